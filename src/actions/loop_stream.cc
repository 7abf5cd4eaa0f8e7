#include "actions/loop_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace flowrun {
namespace {

constexpr size_t kReadChunk = 16384;

Status SystemError(const std::string& what, int error) {
  return UnavailableError(what + ": " + std::strerror(error));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

StatusOr<std::shared_ptr<SSL_CTX>> MakeTlsClientContext(const std::string& ca_file) {
  std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (context == nullptr) return InternalError("could not create a TLS context");
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  int loaded = ca_file.empty()
                   ? SSL_CTX_set_default_verify_paths(context.get())
                   : SSL_CTX_load_verify_locations(context.get(), ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return FailedPreconditionError("could not load the TLS trust anchors" +
                                   (ca_file.empty() ? std::string() : " from " + ca_file));
  }
  return context;
}

LoopStream::~LoopStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

void LoopStream::Await(short events, std::function<void()> then, std::function<void(Status)> fail) {
  loop_.WaitFd(
      fd_, events, until_,
      [self = shared_from_this(), then = std::move(then), fail = std::move(fail)](int revents) {
        if (revents == OutboundLoop::kWaitStopped) {
          return fail(UnavailableError("the service is shutting down"));
        }
        if (revents == OutboundLoop::kWaitTimedOut) {
          return fail(DeadlineExceededError("timed out waiting for the server"));
        }
        then();
      });
}

void LoopStream::Connect(std::vector<SocketAddress> addresses, SteadyTime until, Done done) {
  addresses_ = std::move(addresses);
  until_ = until;
  done_ = std::move(done);
  TryConnect(0, UnavailableError("no address to connect to"));
}

void LoopStream::TryConnect(size_t index, Status last_error) {
  auto finish = [this](Status status) {
    Done done = std::move(done_);
    done(std::move(status));
  };
  if (index >= addresses_.size()) return finish(std::move(last_error));
  if (fd_ >= 0) ::close(fd_);
  const SocketAddress& address = addresses_[index];
  fd_ = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return TryConnect(index + 1, SystemError("could not connect", errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, address.get(), address.length) == 0) return finish(OkStatus());
  if (errno != EINPROGRESS) return TryConnect(index + 1, SystemError("could not connect", errno));
  Await(
      CURL_WAIT_POLLOUT,
      [this, index, finish] {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error == 0) return finish(OkStatus());
        TryConnect(index + 1, SystemError("could not connect", error));
      },
      [finish](Status status) {
        if (status.code() == StatusCode::kDeadlineExceeded) {
          status = DeadlineExceededError("connecting timed out");
        }
        finish(std::move(status));
      });
}

void LoopStream::StartTls(SSL_CTX* context, const std::string& host, SteadyTime until, Done done) {
  until_ = until;
  done_ = std::move(done);
  ssl_ = SSL_new(context);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    Done finish = std::move(done_);
    return finish(InternalError("could not start TLS"));
  }
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (IsIpLiteral(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
  }
  ContinueHandshake();
}

bool LoopStream::AwaitTls(int result, std::function<void()> retry,
                          std::function<void(Status)> fail) {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      Await(CURL_WAIT_POLLIN, std::move(retry), std::move(fail));
      return true;
    case SSL_ERROR_WANT_WRITE:
      Await(CURL_WAIT_POLLOUT, std::move(retry), std::move(fail));
      return true;
    default:
      return false;
  }
}

Status LoopStream::TlsError(const char* what, int result) {
  long verified = SSL_get_verify_result(ssl_);
  if (verified != X509_V_OK) {
    return FailedPreconditionError("the server's TLS certificate could not be verified: " +
                                   std::string(X509_verify_cert_error_string(verified)));
  }
  int kind = SSL_get_error(ssl_, result);
  unsigned long error = ERR_get_error();
  std::string detail;
  if (error != 0) {
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    detail = text;
  } else if (kind == SSL_ERROR_ZERO_RETURN || kind == SSL_ERROR_SYSCALL) {
    detail = "the server closed the connection";
  } else {
    detail = "TLS error " + std::to_string(kind);
  }
  return UnavailableError(std::string(what) + " failed: " + detail);
}

void LoopStream::ContinueHandshake() {
  auto fail = [this](Status status) {
    Done done = std::move(done_);
    done(std::move(status));
  };
  ERR_clear_error();
  int result = SSL_connect(ssl_);
  if (result == 1) return fail(OkStatus());
  if (!AwaitTls(
          result, [this] { ContinueHandshake(); }, fail)) {
    fail(TlsError("the TLS handshake", result));
  }
}

void LoopStream::Write(std::string data, SteadyTime until, Done done) {
  answer_unlikely_ = false;
  out_ = std::move(data);
  written_ = 0;
  until_ = until;
  done_ = std::move(done);
  ContinueWrite();
}

void LoopStream::ContinueWrite() {
  auto finish = [this](Status status) {
    out_.clear();
    Done done = std::move(done_);
    done(std::move(status));
  };
  while (written_ < out_.size()) {
    const char* data = out_.data() + written_;
    size_t left = out_.size() - written_;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(left, 1 << 30)));
      if (n > 0) {
        written_ += static_cast<size_t>(n);
        continue;
      }
      if (!AwaitTls(
              n, [this] { ContinueWrite(); }, finish))
        finish(TlsError("writing", n));
      return;
    }
    ssize_t n = ::send(fd_, data, left, MSG_NOSIGNAL);
    if (n > 0) {
      written_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Await(
          CURL_WAIT_POLLOUT, [this] { ContinueWrite(); }, finish);
    }
    return finish(SystemError("the connection broke while writing", n < 0 ? errno : EPIPE));
  }
  answer_unlikely_ = ssl_ == nullptr;
  finish(OkStatus());
}

void LoopStream::Read(SteadyTime until, ReadDone done) {
  until_ = until;
  read_done_ = std::move(done);
  if (std::exchange(answer_unlikely_, false)) {
    // The peer has had no time to answer what was just written: a read now would almost always
    // say EAGAIN (half of all reads did), so wait for the socket first. An answer already there
    // makes the wait end at once.
    return Await(
        CURL_WAIT_POLLIN, [this] { ContinueRead(); },
        [this](Status status) { FinishRead(std::move(status)); });
  }
  ContinueRead();
}

void LoopStream::FinishRead(StatusOr<std::string_view> bytes) {
  ReadDone done = std::move(read_done_);
  done(bytes);
}

void LoopStream::ContinueRead() {
  auto finish = [this](StatusOr<std::string_view> bytes) { FinishRead(bytes); };
  auto fail = [this](Status status) { FinishRead(std::move(status)); };
  char buffer[kReadChunk];
  for (;;) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) return finish(std::string_view(buffer, static_cast<size_t>(n)));
      if (AwaitTls(
              n, [this] { ContinueRead(); }, fail))
        return;
      if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) {
        return fail(UnavailableError("the server closed the connection"));
      }
      return fail(TlsError("reading", n));
    }
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) return finish(std::string_view(buffer, static_cast<size_t>(n)));
    if (n == 0) return fail(UnavailableError("the server closed the connection"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Await(
          CURL_WAIT_POLLIN, [this] { ContinueRead(); }, fail);
    }
    return fail(SystemError("the connection broke", errno));
  }
}

bool LoopStream::PeerSpokeWhileIdle() const {
  if (fd_ < 0) return true;
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  char byte;
  ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return true;  // bytes nobody asked for, or the end of the stream
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

void LoopStream::Abort() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace flowrun
