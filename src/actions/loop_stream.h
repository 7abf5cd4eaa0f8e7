// LoopStream: one TCP connection, optionally TLS (OpenSSL), driven by the OutboundLoop without
// ever blocking it: non-blocking sockets, and OutboundLoop::WaitFd whenever the socket or TLS
// wants to wait. For protocols the loop speaks itself (SMTP, see email/smtp_session.h; HTTP/1.1,
// see http/plain_http_client.h).
//
// Every operation takes an absolute `until`: a wait that outlives it ends the operation with
// kDeadlineExceeded. Errors: kUnavailable for a refused or broken connection, a failed TLS
// handshake or the loop stopping (message "the service is shutting down"); kFailedPrecondition
// for a certificate that does not verify against the trust anchors or the host name.
//
// Callbacks run on the loop thread, possibly before the call that started them returns. One
// operation at a time. A wait in flight holds a reference to the stream, so the socket is never
// closed while the loop polls it; Abort shuts the socket down, which ends such a wait at once.
//
// Thread-safety: loop thread only.
#pragma once

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actions/host_resolver.h"
#include "actions/outbound_loop.h"
#include "common/status.h"

namespace flowrun {

// A TLS client context: the system trust anchors, or those of `ca_file` instead; TLS 1.2 or
// later; peers are verified.
StatusOr<std::shared_ptr<SSL_CTX>> MakeTlsClientContext(const std::string& ca_file);

class LoopStream : public std::enable_shared_from_this<LoopStream> {
 public:
  using Done = std::function<void(Status status)>;
  // Bytes read (at least one), valid during the call.
  using ReadDone = std::function<void(StatusOr<std::string_view> bytes)>;

  explicit LoopStream(OutboundLoop& loop) : loop_(loop) {}
  ~LoopStream();
  LoopStream(const LoopStream&) = delete;
  LoopStream& operator=(const LoopStream&) = delete;

  // Connects to the first address that accepts, in order.
  void Connect(std::vector<SocketAddress> addresses, SteadyTime until, Done done);
  // Makes the connection TLS, verifying the certificate for `host` (a name or an IP literal).
  void StartTls(SSL_CTX* context, const std::string& host, SteadyTime until, Done done);
  void Write(std::string data, SteadyTime until, Done done);
  // Reads what is available, waiting for at least one byte. The peer closing is kUnavailable.
  // Right after a Write on a plain socket, it waits for the socket before the first read.
  void Read(SteadyTime until, ReadDone done);
  // Whether the peer sent bytes or closed while nothing was asked of it (a kept connection the
  // server gave up on). REQUIRES: no operation in flight.
  bool PeerSpokeWhileIdle() const;
  // Shuts the socket down: an operation in flight ends with an error at once, later ones fail.
  void Abort();
  bool is_tls() const { return ssl_ != nullptr; }

 private:
  void TryConnect(size_t index, Status last_error);
  void ContinueHandshake();
  void ContinueWrite();
  void ContinueRead();
  // Ends the read in flight with `bytes` (or its error).
  void FinishRead(StatusOr<std::string_view> bytes);
  // Waits for `events`; `then` runs when they came, the error status otherwise.
  void Await(short events, std::function<void()> then, std::function<void(Status)> fail);
  // When TLS asks to wait for the socket (SSL_ERROR_WANT_READ or _WRITE): waits, then `retry`;
  // false for any other outcome of `result`.
  bool AwaitTls(int result, std::function<void()> retry, std::function<void(Status)> fail);
  Status TlsError(const char* what, int result);

  OutboundLoop& loop_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  SteadyTime until_;
  // The operation in flight.
  std::vector<SocketAddress> addresses_;
  Done done_;
  ReadDone read_done_;
  std::string out_;
  size_t written_ = 0;
  // The last operation wrote on a plain socket and nothing was read since (see Read).
  bool answer_unlikely_ = false;
  std::string in_;
};

}  // namespace flowrun
