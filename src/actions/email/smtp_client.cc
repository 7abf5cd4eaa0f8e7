#include "actions/email/smtp_client.h"

#include <deque>
#include <unordered_set>
#include <vector>

#include "actions/host_resolver.h"

namespace flowrun {
namespace {

// How often messages waiting for a session are checked against their deadline.
constexpr auto kSweepEvery = std::chrono::milliseconds(100);

SteadyTime Now() { return std::chrono::steady_clock::now(); }

}  // namespace

// Everything below runs on the loop thread; the counters are read from anywhere.
struct SmtpClient::Core : std::enable_shared_from_this<Core> {
  struct Message {
    SmtpEnvelope envelope;
    SteadyTime deadline;
    Done done;
    int tries = 0;
    bool holds_session = false;
  };

  Core(OutboundLoop& l, SmtpClientOptions o) : loop(l), options(std::move(o)), resolver(l) {}

  void Admit(std::unique_ptr<Message> message) {
    if (stopped) return Finish(std::move(message), ShuttingDown());
    if (message->deadline <= Now()) return Finish(std::move(message), WaitedTooLong());
    while (!idle.empty()) {
      std::shared_ptr<SmtpSession> session = std::move(idle.back());
      idle.pop_back();
      if (!session->ServerGaveUp()) return Run(std::move(session), std::move(message));
      session->Close();
      Closed();
    }
    if (open < options.max_sessions) return Open(std::move(message));
    waiting.push_back(std::move(message));
    waiting_count.store(static_cast<long long>(waiting.size()), std::memory_order_relaxed);
    ArmSweep();
  }

  SteadyTime AttemptUntil(const Message& message) const {
    return std::min(Now() + options.timeout, message.deadline);
  }

  void Take(Message& message) {
    message.holds_session = true;
    ++message.tries;
    in_use.fetch_add(1, std::memory_order_relaxed);
  }

  void Open(std::unique_ptr<Message> message) {
    ++open;
    open_count.store(static_cast<long long>(open), std::memory_order_relaxed);
    Take(*message);
    auto session = std::make_shared<SmtpSession>(loop, options.session, resolver);
    SteadyTime until = AttemptUntil(*message);
    SteadyTime connect_until = std::min(Now() + options.connect_timeout, until);
    busy.insert(session.get());
    Message* raw = message.release();
    session->Open(connect_until, until, [self = shared_from_this(), session, raw](Status opened) {
      std::unique_ptr<Message> owned(raw);
      if (self->stopped) {
        self->Drop(session);
        return self->Finish(std::move(owned), ShuttingDown());
      }
      if (!opened.ok()) {
        self->Drop(session);
        self->Finish(std::move(owned), std::move(opened));
        return self->StartWaiting();
      }
      self->Transact(session, std::move(owned));
    });
  }

  void Run(std::shared_ptr<SmtpSession> session, std::unique_ptr<Message> message) {
    Take(*message);
    busy.insert(session.get());
    Transact(std::move(session), std::move(message));
  }

  void Transact(std::shared_ptr<SmtpSession> session, std::unique_ptr<Message> message) {
    Message* raw = message.release();
    session->Send(raw->envelope, AttemptUntil(*raw),
                  [self = shared_from_this(), session, raw](SmtpSendOutcome outcome) {
                    self->Sent(session, std::unique_ptr<Message>(raw), std::move(outcome));
                  });
  }

  void Sent(const std::shared_ptr<SmtpSession>& session, std::unique_ptr<Message> message,
            SmtpSendOutcome outcome) {
    if (stopped) {
      Drop(session);
      return Finish(std::move(message), ShuttingDown());
    }
    if (outcome.status.ok()) {
      busy.erase(session.get());
      Finish(std::move(message), OkStatus());
      return Reuse(session);
    }
    Drop(session);
    if (outcome.retry_on_new_connection && message->tries == 1) {
      Release(*message);
      return Open(std::move(message));  // the place the dropped session held
    }
    Finish(std::move(message), std::move(outcome.status));
    StartWaiting();
  }

  // A session that just delivered: the next waiting message takes it, or it waits idle.
  void Reuse(const std::shared_ptr<SmtpSession>& session) {
    if (stopped) {
      session->Close();
      Closed();
      return;
    }
    std::unique_ptr<Message> next = NextWaiting();
    if (next) return Run(session, std::move(next));
    idle.push_back(session);
  }

  // Opens sessions for waiting messages while under the bound.
  void StartWaiting() {
    while (!stopped && open < options.max_sessions) {
      std::unique_ptr<Message> next = NextWaiting();
      if (!next) return;
      Open(std::move(next));
    }
  }

  std::unique_ptr<Message> NextWaiting() {
    while (!waiting.empty()) {
      std::unique_ptr<Message> next = std::move(waiting.front());
      waiting.pop_front();
      waiting_count.store(static_cast<long long>(waiting.size()), std::memory_order_relaxed);
      if (next->deadline > Now()) return next;
      Finish(std::move(next), WaitedTooLong());
    }
    return nullptr;
  }

  void Drop(const std::shared_ptr<SmtpSession>& session) {
    busy.erase(session.get());
    session->Close();
    Closed();
  }

  void Closed() {
    --open;
    open_count.store(static_cast<long long>(open), std::memory_order_relaxed);
  }

  void Release(Message& message) {
    if (!message.holds_session) return;
    message.holds_session = false;
    in_use.fetch_sub(1, std::memory_order_relaxed);
  }

  void Finish(std::unique_ptr<Message> message, Status status) {
    Release(*message);
    if (!status.ok()) {
      status =
          Status(status.code(), "SMTP " + options.session.endpoint.url + ": " + status.message());
    }
    Done done = std::move(message->done);
    message.reset();
    done(std::move(status));
  }

  void ArmSweep() {
    if (sweep_armed || waiting.empty()) return;
    sweep_armed = true;
    loop.RunAt(Now() + kSweepEvery, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Sweep();
    });
  }

  // Ends the waiting messages whose deadline passed.
  void Sweep() {
    sweep_armed = false;
    SteadyTime now = Now();
    std::deque<std::unique_ptr<Message>> kept;
    std::vector<std::unique_ptr<Message>> expired;
    for (auto& message : waiting) {
      if (message->deadline <= now) {
        expired.push_back(std::move(message));
      } else {
        kept.push_back(std::move(message));
      }
    }
    waiting.swap(kept);
    waiting_count.store(static_cast<long long>(waiting.size()), std::memory_order_relaxed);
    for (auto& message : expired) Finish(std::move(message), WaitedTooLong());
    ArmSweep();
  }

  // The loop stops or the client goes away: see the header.
  void Shutdown() {
    if (stopped) return;
    stopped = true;
    std::deque<std::unique_ptr<Message>> queued;
    queued.swap(waiting);
    waiting_count.store(0, std::memory_order_relaxed);
    for (auto& session : idle) {
      session->Close();
      Closed();
    }
    idle.clear();
    // Sessions in flight end their message with an error, which Sent turns into ShuttingDown.
    std::vector<SmtpSession*> in_flight(busy.begin(), busy.end());
    for (SmtpSession* session : in_flight) session->Abort();
    for (auto& message : queued) Finish(std::move(message), ShuttingDown());
  }

  static Status ShuttingDown() {
    return UnavailableError("not sent: the service is shutting down");
  }
  static Status WaitedTooLong() {
    return DeadlineExceededError("timed out waiting for a free SMTP session");
  }

  OutboundLoop& loop;
  const SmtpClientOptions options;
  HostResolver resolver;
  std::deque<std::unique_ptr<Message>> waiting;
  std::vector<std::shared_ptr<SmtpSession>> idle;
  std::unordered_set<SmtpSession*> busy;  // opening or sending; owned by their callbacks
  size_t open = 0;                        // sessions open or opening
  bool stopped = false;
  bool sweep_armed = false;
  std::atomic<long long> in_use{0};
  std::atomic<long long> waiting_count{0};
  std::atomic<long long> open_count{0};
};

SmtpClient::SmtpClient(OutboundLoop& loop, SmtpClientOptions options)
    : core_(std::make_shared<Core>(loop, std::move(options))) {
  loop.OnStop([weak = std::weak_ptr<Core>(core_)] {
    if (auto core = weak.lock()) core->Shutdown();
  });
}

SmtpClient::~SmtpClient() {
  core_->loop.Post([core = core_] { core->Shutdown(); });
}

void SmtpClient::Send(SmtpEnvelope envelope, SteadyTime deadline, Done done) {
  auto message = std::make_unique<Core::Message>();
  message->envelope = std::move(envelope);
  message->deadline = deadline;
  message->done = std::move(done);
  core_->loop.Post([core = core_, raw = message.release()] {
    core->Admit(std::unique_ptr<Core::Message>(raw));
  });
}

SmtpClientStats SmtpClient::Stats() const {
  SmtpClientStats stats;
  stats.sessions_in_use = core_->in_use.load(std::memory_order_relaxed);
  stats.waiting = core_->waiting_count.load(std::memory_order_relaxed);
  stats.sessions_open = core_->open_count.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace flowrun
