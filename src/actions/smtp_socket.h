// SmtpSocket: one plain TCP connection to an SMTP server, with every blocking operation bounded by
// a deadline, and the reading of SMTP replies (RFC 5321 section 4.2) bounded in size.
//
// Connect tries each address the host name resolves to until one accepts within the connect
// deadline. Send and ReadReply block until done or until their deadline passes; the socket stays
// blocking (SO_RCVTIMEO/SO_SNDTIMEO bound each call and are changed only when the deadline comes
// closer than the armed timeout), so a fast exchange costs one system call per send and receive.
//
// Errors carry the retry decision: a connection that could not be made, broke or sent something
// that is not an SMTP reply is kUnavailable; a deadline that passed is kDeadlineExceeded. Replies
// are bounded: a line longer than kMaxLineBytes or a reply of more than kMaxReplyLines lines is a
// malformed reply, so a hostile server can make the client hold at most a few KiB.
//
// Host name resolution (getaddrinfo) is not bounded by the deadline.
//
// Thread-safety: use from one thread at a time.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace flowrun {

using SteadyTime = std::chrono::steady_clock::time_point;

// One reply: its code and its lines as received, without line ends.
struct SmtpReply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // at least one; each starts with the code
  const std::string& last() const { return lines.back(); }
};

class SmtpSocket {
 public:
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr size_t kMaxReplyLines = 64;

  // Connects to `host`:`port`. The TCP connect gives up at `connect_deadline`.
  static StatusOr<SmtpSocket> Connect(const std::string& host, const std::string& port,
                                      SteadyTime connect_deadline);

  SmtpSocket(SmtpSocket&& other) noexcept;
  SmtpSocket& operator=(SmtpSocket&& other) noexcept;
  SmtpSocket(const SmtpSocket&) = delete;
  SmtpSocket& operator=(const SmtpSocket&) = delete;
  ~SmtpSocket();

  // Writes all of `data`.
  Status Send(std::string_view data, SteadyTime deadline);
  // Reads one whole reply (multi-line replies: "250-..." lines up to the "250 ..." line).
  StatusOr<SmtpReply> ReadReply(SteadyTime deadline);
  // Writes what fits without waiting and ignores errors (a parting QUIT).
  void SendWithoutWaiting(std::string_view data);

  // True when the connection is open and the server has sent nothing unasked (no pending bytes,
  // no end of stream): what a kept connection must look like before it is used again.
  bool LooksIdle() const;
  // Bytes received since the connection was made; tells whether a reply had begun.
  size_t bytes_received() const { return bytes_received_; }

 private:
  explicit SmtpSocket(int fd) : fd_(fd) {}
  // Makes the next blocking call end no later than `deadline`; false when it has passed.
  bool Arm(SteadyTime deadline);
  Status Fill(SteadyTime deadline);  // reads more bytes into buffer_

  int fd_ = -1;
  std::chrono::milliseconds armed_{0};  // the SO_RCVTIMEO/SO_SNDTIMEO set; 0: none yet
  std::string buffer_;                  // received, not yet consumed from `start_`
  size_t start_ = 0;
  size_t bytes_received_ = 0;
};

}  // namespace flowrun
