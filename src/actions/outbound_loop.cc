#include "actions/outbound_loop.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>

#include "common/thread_annotations.h"

namespace flowrun {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Socket events one turn of the loop handles at most: see "Turns" in the header.
constexpr int kMaxEventsPerTurn = 64;

// The longest the loop sleeps without being woken; a safety net only.
constexpr int kMaxPollMs = 1000;

// Connections in use counted into CURLMOPT_MAXCONNECTS when max_total_connections sets no bound.
constexpr long kUnboundedInUse = 1L << 20;

bool IsPlainHttp(const std::string& origin) { return origin.rfind("http://", 0) == 0; }

// What an entry of the epoll set is: the high 32 bits of its data, the fd in the low ones.
enum class EpollTag : uint64_t { kWake = 1, kCurlSocket = 2, kWait = 3 };

uint64_t Tagged(EpollTag tag, int fd) {
  return (static_cast<uint64_t>(tag) << 32) | static_cast<uint32_t>(fd);
}

// Adds `fd` to the epoll set, or changes its interest when it is there already.
bool EpollWatch(int epoll_fd, int fd, uint32_t events, uint64_t data, bool expect_new) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = data;
  int first = expect_new ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epoll_fd, first, fd, &event) == 0) return true;
  // The fd was closed and reopened behind our back (its old entry left with it), or is there.
  int second = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
  return second >= 0 && epoll_ctl(epoll_fd, second, fd, &event) == 0;
}

// WaitFd's events (CURL_WAIT_POLLIN/POLLOUT/POLLPRI, which are poll's bits) as epoll's.
uint32_t EpollEventsOf(short events) {
  uint32_t epoll_events = 0;
  if (events & POLLIN) epoll_events |= EPOLLIN;
  if (events & POLLOUT) epoll_events |= EPOLLOUT;
  if (events & POLLPRI) epoll_events |= EPOLLPRI;
  return epoll_events;
}

}  // namespace

OutboundLoop::OutboundLoop(OutboundLoopOptions options) : options_(options) {
  InitCurlOnce();
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_connections_per_host);
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_total_connections);
  // The cache counts connections in use too: see "Limits" in the header.
  long in_use =
      options_.max_total_connections > 0 ? options_.max_total_connections : kUnboundedInUse;
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, in_use + options_.max_idle_connections);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &OutboundLoop::OnCurlSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &OutboundLoop::OnCurlTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ >= 0 && wake_fd_ >= 0 &&
      !EpollWatch(epoll_fd_, wake_fd_, EPOLLIN, Tagged(EpollTag::kWake, wake_fd_), true)) {
    close(wake_fd_);
    wake_fd_ = -1;
  }
}

OutboundLoop::~OutboundLoop() {
  Stop();
  curl_multi_cleanup(multi_);  // may still tell OnCurlSocket to forget sockets: epoll goes last
  for (int fd : {wake_fd_, epoll_fd_}) {
    if (fd >= 0) close(fd);
  }
}

Status OutboundLoop::Start() {
  if (multi_ == nullptr) return InternalError("could not create a libcurl multi handle");
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return InternalError("could not create the outbound loop's epoll set or eventfd");
  }
  if (started_.exchange(true)) return FailedPreconditionError("the outbound loop was started");
  thread_ = std::thread([this] { Run(); });
  return OkStatus();
}

void OutboundLoop::Stop() {
  bool first;
  {
    MutexLock lock(mu_);
    first = !stopping_;
    stopping_ = true;
  }
  // From a callback: the loop ends after this turn; whoever stops it from outside joins it.
  if (OnLoopThread()) {
    WakeLoop();
    return;
  }
  MutexLock join_lock(join_mu_);
  if (thread_.joinable()) {
    WakeLoop();
    thread_.join();
  } else if (first && !started_.load()) {
    EndEverything();  // never started: end what was handed over on this thread
  }
  stopped_.store(true, std::memory_order_release);
}

bool OutboundLoop::OnLoopThread() const {
  return loop_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
}

void OutboundLoop::AddTransfer(CURL* easy, TransferDone done, std::string origin) {
  transfers_in_flight_.fetch_add(1, std::memory_order_relaxed);
  transfers_started_.fetch_add(1, std::memory_order_relaxed);
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      bool was_idle = QueueEmptyLocked();
      queued_transfers_.push_back({easy, std::move(done), std::move(origin)});
      // The loop takes the whole queue at once: a queue that was not empty has a wake-up due.
      if (was_idle) WakeLoop();
      return;
    }
  }
  transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  done(kStopped);
}

void OutboundLoop::WaitFd(int fd, short events, SteadyTime until, WaitDone done) {
  socket_waits_.fetch_add(1, std::memory_order_relaxed);
  const bool on_loop = OnLoopThread();
  bool stopping;
  {
    MutexLock lock(mu_);
    stopping = stopping_;
    if (!stopping_ && !on_loop) {
      bool was_idle = QueueEmptyLocked();
      queued_waits_.push_back({fd, events, until, std::move(done)});
      // The loop takes the whole queue at once: a queue that was not empty has a wake-up due.
      if (was_idle) WakeLoop();
      return;
    }
  }
  if (!stopping) {
    // From a callback: watched from this very turn's next epoll_wait, with no wake-up to pay for.
    StartWait({fd, events, until, std::move(done)});
    return;
  }
  socket_waits_.fetch_sub(1, std::memory_order_relaxed);
  done(kWaitStopped);
}

void OutboundLoop::Post(std::function<void()> task) {
  {
    MutexLock lock(mu_);
    // While the loop stops, tasks still run on its thread, in order, after the stop hooks.
    if (!finished_) {
      bool was_idle = QueueEmptyLocked();
      queued_tasks_.push_back(std::move(task));
      // The loop takes the whole queue at once: a queue that was not empty has a wake-up due.
      if (was_idle) WakeLoop();
      return;
    }
  }
  task();
}

void OutboundLoop::RunAt(SteadyTime when, std::function<void()> task) {
  MutexLock lock(mu_);
  if (stopping_) return;
  if (OnLoopThread()) {
    timers_.push_back({when, std::move(task)});
    std::push_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
    return;
  }
  bool was_idle = QueueEmptyLocked();
  queued_timers_.push_back({when, std::move(task)});
  if (was_idle) WakeLoop();
}

void OutboundLoop::OnStop(std::function<void()> hook) {
  {
    MutexLock lock(mu_);
    if (!hooks_ran_) {
      stop_hooks_.push_back(std::move(hook));
      return;
    }
  }
  hook();
}

void OutboundLoop::RunStopHooks() {
  std::vector<std::function<void()>> hooks;
  {
    MutexLock lock(mu_);
    hooks.swap(stop_hooks_);
    hooks_ran_ = true;
  }
  for (auto& hook : hooks) hook();
}

OutboundLoopStats OutboundLoop::Stats() const {
  OutboundLoopStats stats;
  stats.transfers_in_flight = transfers_in_flight_.load(std::memory_order_relaxed);
  stats.socket_waits = socket_waits_.load(std::memory_order_relaxed);
  stats.transfers_started = transfers_started_.load(std::memory_order_relaxed);
  return stats;
}

bool OutboundLoop::QueueEmptyLocked() const {
  return queued_transfers_.empty() && queued_waits_.empty() && queued_tasks_.empty() &&
         queued_timers_.empty();
}

void OutboundLoop::TakeQueued() {
  MutexLock lock(mu_);
  taken_transfers_.swap(queued_transfers_);
  taken_waits_.swap(queued_waits_);
  taken_tasks_.swap(queued_tasks_);
  taken_timers_.swap(queued_timers_);
}

void OutboundLoop::WakeLoop() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

int OutboundLoop::OnCurlSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* loop,
                               void* known) {
  auto* self = static_cast<OutboundLoop*>(loop);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(self->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // fails harmlessly when closed
    return 0;
  }
  uint32_t events = 0;
  if (what & CURL_POLL_IN) events |= EPOLLIN;
  if (what & CURL_POLL_OUT) events |= EPOLLOUT;
  EpollWatch(self->epoll_fd_, fd, events, Tagged(EpollTag::kCurlSocket, fd), known == nullptr);
  // Marks the socket as known, so that its next call changes the entry instead of adding it.
  if (known == nullptr) curl_multi_assign(self->multi_, fd, self);
  return 0;
}

int OutboundLoop::OnCurlTimer(CURLM* /*multi*/, long timeout_ms, void* loop) {
  auto* self = static_cast<OutboundLoop*>(loop);
  self->curl_timer_set_ = timeout_ms >= 0;
  if (timeout_ms >= 0) {
    self->curl_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  return 0;
}

void OutboundLoop::StartWait(Wait wait) {
  const int fd = wait.fd;
  wait.serial = ++next_wait_serial_;
  wait_deadlines_.emplace(wait.until, wait.serial, fd);
  waits_[fd].push_back(std::move(wait));
  changed_wait_fds_.push_back(fd);
}

void OutboundLoop::SyncWaitFds() {
  for (int fd : changed_wait_fds_) {
    short wanted = 0;
    auto waits = waits_.find(fd);
    if (waits != waits_.end()) {
      for (const Wait& wait : waits->second) wanted |= wait.events;
    }
    auto watched = watched_wait_fds_.find(fd);
    const short had = watched == watched_wait_fds_.end() ? 0 : watched->second;
    if (wanted == had) continue;
    if (wanted == 0) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      watched_wait_fds_.erase(watched);
      continue;
    }
    if (EpollWatch(epoll_fd_, fd, EpollEventsOf(wanted), Tagged(EpollTag::kWait, fd), had == 0)) {
      watched_wait_fds_[fd] = wanted;
    } else {
      // epoll cannot watch it (not a socket or pipe, or closed): its waits end at once, as a
      // poll would have them, and the caller's I/O tells what is wrong.
      unwatchable_wait_fds_.push_back(fd);
      if (had != 0) watched_wait_fds_.erase(watched);
    }
  }
  changed_wait_fds_.clear();
}

int OutboundLoop::PollTimeoutMs() const {
  if (!unwatchable_wait_fds_.empty() || !starting_.empty()) return 0;
  int timeout = kMaxPollMs;
  SteadyTime now = std::chrono::steady_clock::now();
  auto until = [&](SteadyTime when) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
    timeout = static_cast<int>(std::clamp<long long>(left, 0, timeout));
  };
  if (curl_timer_set_) until(curl_deadline_);
  if (!wait_deadlines_.empty()) until(std::get<0>(*wait_deadlines_.begin()));
  if (!timers_.empty()) until(timers_.front().when);
  return timeout;
}

void OutboundLoop::RunDueTimers() {
  SteadyTime now = std::chrono::steady_clock::now();
  // Taken out first: a task that sets a timer again runs it on a later turn, not in this loop.
  std::vector<std::function<void()>> due;
  while (!timers_.empty() && timers_.front().when <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
    due.push_back(std::move(timers_.back().task));
    timers_.pop_back();
  }
  for (auto& task : due) task();
}

void OutboundLoop::AddToMulti(PendingTransfer transfer) {
  if (curl_multi_add_handle(multi_, transfer.easy) != CURLM_OK) {
    if (!transfer.origin.empty()) --origins_[transfer.origin].active;
    transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    transfer.done(CURLE_FAILED_INIT);
    return;
  }
  CURL* easy = transfer.easy;
  active_.emplace(easy, std::move(transfer));
}

void OutboundLoop::Admit(PendingTransfer transfer) {
  if (!transfer.origin.empty()) {
    Origin& origin = origins_[transfer.origin];
    if (origin.active >= options_.max_connections_per_host) {
      origin.backlog.push_back(std::move(transfer));
      return;
    }
    TrackSockets(transfer.easy, transfer.origin, origin.active);
    ++origin.active;
  }
  AddToMulti(std::move(transfer));
}

curl_socket_t OutboundLoop::OpenSocket(void* clientp, curlsocktype purpose,
                                       curl_sockaddr* address) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd != CURL_SOCKET_BAD) ++static_cast<OriginSockets*>(clientp)->open;
  return fd;
}

int OutboundLoop::CloseSocket(void* clientp, curl_socket_t fd) {
  auto* sockets = static_cast<OriginSockets*>(clientp);
  int result = close(fd);
  if (--sockets->open == 0) sockets->loop->MaybeForgetSockets(sockets->origin);
  return result;
}

void OutboundLoop::TrackSockets(CURL* easy, const std::string& origin, long others) {
  if (!IsPlainHttp(origin)) return;
  std::unique_ptr<OriginSockets>& sockets = sockets_[origin];
  if (sockets == nullptr) sockets.reset(new OriginSockets{this, origin});
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OutboundLoop::OpenSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, sockets.get());
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &OutboundLoop::CloseSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, sockets.get());
  // Each of the origin's other transfers holds a socket or is about to open one: every socket
  // may be busy, and libcurl would walk them all to find none idle.
  if (sockets->open > others) return;
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  // A connection beyond the origin's share of kept connections is closed after its response:
  // removing a transfer whose connection was kept walks every open connection (libcurl 7.88).
  // (The origin's other transfers count too: those just added open their sockets later.)
  if (std::max(sockets->open, others) >= options_.max_idle_connections) {
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  }
}

void OutboundLoop::MaybeForgetSockets(const std::string& origin) {
  auto it = sockets_.find(origin);
  if (it == sockets_.end() || it->second->open > 0 || origins_.count(origin) > 0) return;
  sockets_.erase(it);
}

void OutboundLoop::FinishTransfers() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    CURLcode code = message->data.result;
    curl_multi_remove_handle(multi_, easy);
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    PendingTransfer finished = std::move(it->second);
    active_.erase(it);
    if (!finished.origin.empty()) {
      auto origin = origins_.find(finished.origin);
      if (!origin->second.backlog.empty()) {
        // The origin's next transfer takes the place of this one.
        PendingTransfer next = std::move(origin->second.backlog.front());
        origin->second.backlog.pop_front();
        TrackSockets(next.easy, next.origin, origin->second.active - 1);
        AddToMulti(std::move(next));
      } else if (--origin->second.active == 0) {
        origins_.erase(origin);
        MaybeForgetSockets(finished.origin);
      }
    }
    transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    finished.done(code);
  }
}

void OutboundLoop::EndWait(int fd, std::vector<Wait>& waits, size_t index, int revents,
                           std::vector<std::pair<WaitDone, int>>& ended) {
  wait_deadlines_.erase({waits[index].until, waits[index].serial, fd});
  ended.emplace_back(std::move(waits[index].done), revents);
  waits.erase(waits.begin() + static_cast<std::ptrdiff_t>(index));
  changed_wait_fds_.push_back(fd);
}

void OutboundLoop::FinishWaits(const std::unordered_map<int, short>& ready) {
  if (waits_.empty()) return;
  std::vector<std::pair<WaitDone, int>> ended;
  // The fds that became ready: only their waits are visited.
  for (const auto& [fd, revents] : ready) {
    auto found = waits_.find(fd);
    if (found == waits_.end()) continue;
    std::vector<Wait>& waits = found->second;
    for (size_t i = 0; i < waits.size();) {
      // An error or hang-up ends every wait on the fd: the caller's I/O tells what happened.
      int events = revents & (EPOLLERR | EPOLLHUP) ? waits[i].events : revents & waits[i].events;
      if (events != 0) {
        EndWait(fd, waits, i, events, ended);
      } else {
        ++i;
      }
    }
    if (waits.empty()) waits_.erase(found);
  }
  // The waits whose time ran out, earliest first.
  const SteadyTime now = std::chrono::steady_clock::now();
  while (!wait_deadlines_.empty() && std::get<0>(*wait_deadlines_.begin()) <= now) {
    const auto [until, serial, fd] = *wait_deadlines_.begin();
    auto found = waits_.find(fd);
    std::vector<Wait>& waits = found->second;
    auto wait = std::find_if(waits.begin(), waits.end(),
                             [serial = serial](const Wait& w) { return w.serial == serial; });
    EndWait(fd, waits, static_cast<size_t>(wait - waits.begin()), kWaitTimedOut, ended);
    if (waits.empty()) waits_.erase(found);
  }
  for (auto& [done, revents] : ended) {
    socket_waits_.fetch_sub(1, std::memory_order_relaxed);
    done(revents);
  }
  // Now, before a socket the callbacks closed can be reopened by libcurl under the same number.
  SyncWaitFds();
}

void OutboundLoop::Run() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  std::array<epoll_event, kMaxEventsPerTurn> events;
  std::unordered_map<int, short> ready_waits;
  for (;;) {
    TakeQueued();
    for (auto& task : taken_tasks_) task();
    taken_tasks_.clear();
    for (Timer& timer : taken_timers_) {
      timers_.push_back(std::move(timer));
      std::push_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
    }
    taken_timers_.clear();
    for (PendingTransfer& transfer : taken_transfers_) starting_.push_back(std::move(transfer));
    taken_transfers_.clear();
    for (int started = 0; !starting_.empty() && started < kMaxStartsPerTurn; ++started) {
      Admit(std::move(starting_.front()));
      starting_.pop_front();
    }
    for (Wait& wait : taken_waits_) StartWait(std::move(wait));
    taken_waits_.clear();
    {
      MutexLock lock(mu_);
      if (stopping_) break;
    }

    SyncWaitFds();
    int count =
        epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), PollTimeoutMs());
    ready_waits.clear();
    for (int fd : unwatchable_wait_fds_) ready_waits[fd] |= EPOLLERR;
    unwatchable_wait_fds_.clear();
    int running = 0;
    for (int i = 0; i < count; ++i) {
      const auto tag = static_cast<EpollTag>(events[i].data.u64 >> 32);
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      const uint32_t what = events[i].events;
      if (tag == EpollTag::kWake) {
        uint64_t drained;
        (void)!read(wake_fd_, &drained, sizeof(drained));
      } else if (tag == EpollTag::kCurlSocket) {
        int mask = (what & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (what & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (what & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi_, fd, mask, &running);
      } else {
        ready_waits[fd] |= static_cast<short>(what);
      }
    }
    if (curl_timer_set_ && std::chrono::steady_clock::now() >= curl_deadline_) {
      curl_timer_set_ = false;  // the call below sets it again when libcurl wants another
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    FinishTransfers();
    FinishWaits(ready_waits);
    RunDueTimers();
  }
  EndEverything();
}

void OutboundLoop::EndEverything() {
  RunStopHooks();
  timers_.clear();
  // Callbacks may hand over more work; it is ended too (stopping_ is set, so inline; tasks are
  // queued and run below).
  for (auto& [easy, transfer] : active_) curl_multi_remove_handle(multi_, easy);
  std::unordered_map<CURL*, PendingTransfer> active;
  active.swap(active_);
  std::unordered_map<std::string, Origin> origins;
  origins.swap(origins_);
  for (auto& [easy, transfer] : active) {
    transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    transfer.done(kStopped);
  }
  for (auto& [key, origin] : origins) {
    for (PendingTransfer& transfer : origin.backlog) {
      transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
      transfer.done(kStopped);
    }
  }
  std::deque<PendingTransfer> starting;
  starting.swap(starting_);
  for (PendingTransfer& transfer : starting) {
    transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    transfer.done(kStopped);
  }
  std::unordered_map<int, std::vector<Wait>> waits;
  waits.swap(waits_);
  wait_deadlines_.clear();
  for (auto& [fd, waits_on_fd] : waits) {
    for (Wait& wait : waits_on_fd) {
      socket_waits_.fetch_sub(1, std::memory_order_relaxed);
      wait.done(kWaitStopped);
    }
  }
  for (;;) {
    {
      MutexLock lock(mu_);
      if (QueueEmptyLocked()) {
        finished_ = true;  // from now on, Post runs tasks on the caller's thread
        break;
      }
    }
    TakeQueued();
    taken_timers_.clear();
    for (auto& task : taken_tasks_) task();
    taken_tasks_.clear();
    for (PendingTransfer& transfer : taken_transfers_) {
      transfers_in_flight_.fetch_sub(1, std::memory_order_relaxed);
      transfer.done(kStopped);
    }
    taken_transfers_.clear();
    for (Wait& wait : taken_waits_) {
      socket_waits_.fetch_sub(1, std::memory_order_relaxed);
      wait.done(kWaitStopped);
    }
    taken_waits_.clear();
  }
}

}  // namespace flowrun
