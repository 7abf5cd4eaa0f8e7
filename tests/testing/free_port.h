// Free loopback ports for test servers that must be told their port up front (aiosmtpd,
// PostgreSQL). The port is free when returned; another process could take it before the server
// binds, which on a test machine does not happen in practice.
#pragma once

namespace flowrun::testing {

// A TCP port on 127.0.0.1 that nothing listens on right now.
int FreeLoopbackPort();

// True when something accepts TCP connections on 127.0.0.1:port.
bool LoopbackPortAccepts(int port);

}  // namespace flowrun::testing
