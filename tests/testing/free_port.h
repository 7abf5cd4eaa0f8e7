// Loopback ports for test servers. FreeLoopbackPort is for servers that must be told their port up
// front (aiosmtpd, PostgreSQL): the port is free when returned; another process could take it
// before the server binds, which on a test machine does not happen in practice. ListenOnLoopback
// is for servers of the test's own, which listen on a port the kernel picks.
#pragma once

namespace flowrun::testing {

// A TCP port on 127.0.0.1 that nothing listens on right now.
int FreeLoopbackPort();

// True when something accepts TCP connections on 127.0.0.1:port.
bool LoopbackPortAccepts(int port);

// A TCP socket listening on 127.0.0.1 at a port the kernel picks, with `backlog`; `*port` is set
// to that port. Returns -1 (and leaves `*port`) when it cannot. The caller closes it.
int ListenOnLoopback(int backlog, int* port);

}  // namespace flowrun::testing
