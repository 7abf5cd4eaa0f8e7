// SmtpServer: a real SMTP server on loopback for tests of mail clients: Debian's python3-aiosmtpd,
// run as `/usr/bin/python3 -m aiosmtpd` on a free port with a small handler that writes every
// message it receives (accepted or refused) to a directory, and can refuse the next N messages
// with a chosen reply (for example 451) or recipients starting with "reject-" with 550.
// Optionally offers STARTTLS or implicit TLS with the given certificate, and AUTH PLAIN/LOGIN
// for one user.
//
// Thread-safety: use from one test thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace flowrun::testing {

struct ReceivedMail {
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  std::string data;       // the message as received, CRLF line ends
  std::string reply;      // what the server answered to DATA, e.g. "250 OK" or "451 ..."
  std::string auth_user;  // the authenticated user, if any
};

struct SmtpServerOptions {
  std::string tls_cert;  // with tls_key: STARTTLS (or implicit TLS when implicit_tls)
  std::string tls_key;
  bool implicit_tls = false;
  std::string auth_user;  // with auth_password: AUTH required before MAIL
  std::string auth_password;
};

class SmtpServer {
 public:
  // Starts the server and waits until it accepts connections. Fails the test binary with a clear
  // message when /usr/bin/python3 or aiosmtpd is missing.
  static std::unique_ptr<SmtpServer> Start(const SmtpServerOptions& options = {});
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  int port() const { return port_; }
  std::string Url() const;  // smtp://127.0.0.1:<port> (smtps:// with implicit TLS)

  // The next `count` messages get `reply` (e.g. "451 4.3.0 Try again later") to DATA.
  void RefuseNext(int count, const std::string& reply);

  // Every DATA received so far, in order, including refused ones.
  std::vector<ReceivedMail> Received() const;
  std::vector<ReceivedMail> Accepted() const;

 private:
  SmtpServer() = default;
  int pid_ = -1;
  int port_ = 0;
  bool implicit_tls_ = false;
  std::string dir_;
};

}  // namespace flowrun::testing
