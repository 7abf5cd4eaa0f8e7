// OutboundLoop: the one event loop for outbound network I/O of the built-in actions. It owns one
// thread that drives a libcurl multi handle, so HTTP transfers share libcurl's connection cache
// (HTTP/1.1 keep-alive, HTTP/2 multiplexing), and it waits on other sockets for callers that
// drive a protocol of their own (SMTP, libpq's asynchronous API) through WaitFd.
//
// Readiness comes from one epoll set: libcurl's sockets (curl_multi_socket_action, with its
// socket and timer callbacks), the sockets of WaitFd, and an eventfd that wakes the loop when work
// is handed over. A turn of the loop costs what became ready, not what is open: thousands of
// transfers waiting on a slow API cost nothing while they wait, and do not slow an SMTP round
// trip or a database statement down.
//
// Transfers, waits and tasks are handed over from any thread through a locked queue; their
// callbacks run on the loop thread and must be quick and must not block. A callback may hand over
// new work (the next redirect hop, the next statement); it runs on a later turn of the loop.
// Waits and timers set from the loop thread skip the queue (and the wake-up it costs): a protocol
// the loop speaks itself (SMTP) sets one per round trip.
//
// Lifecycle: the service that builds the actions owns the loop: Start before the first attempt
// (work handed over before Start waits for it), Stop at shutdown. Stop runs the OnStop hooks,
// ends every transfer still in flight with kStopped, ends every wait with kWaitStopped, drops the
// timers not yet due, runs the tasks still queued (those handed over meanwhile too), all on the
// loop thread, and joins the thread. Work handed over after that is ended the same way on the
// caller's thread. Stop called from the loop thread itself (from a callback) only asks the loop
// to stop after the current turn and returns: the loop never waits on itself.
//
// Limits: max_connections_per_host is CURLMOPT_MAX_HOST_CONNECTIONS (transfers beyond it wait in
// the loop's queue for their origin, see AddTransfer); max_total_connections bounds all open
// connections (CURLMOPT_MAX_TOTAL_CONNECTIONS). libcurl's connection cache holds the connections
// in use as well as the idle ones, and each time a transfer ends with more than
// CURLMOPT_MAXCONNECTS connections open it walks every connection to close the oldest idle one: so
// MAXCONNECTS is max_total_connections + max_idle_connections, and an idle connection is closed
// when it has been idle for libcurl's maximum age (CURLOPT_MAXAGE_CONN, 118 s by default), when a
// new connection needs its place under max_total_connections, or when more than
// max_idle_connections are idle with every allowed connection open.
//
// Reuse: to reuse a connection libcurl walks every connection to the transfer's host, busy ones
// included, which costs O(connections) per transfer when thousands are open to one slow API. The
// loop counts the sockets each plain-http origin has open (through the transfer's socket
// callbacks) and, when none of them can be idle (no more sockets than the origin's transfers in
// libcurl), sets CURLOPT_FRESH_CONNECT so that libcurl opens a connection without the walk. Only
// for http:// (HTTP/1.1: one transfer per connection); https may multiplex (HTTP/2). Such a new
// connection is kept for reuse only while the origin has fewer than max_idle_connections sockets
// open; beyond that it is closed after its response (CURLOPT_FORBID_REUSE), because removing a
// transfer whose connection was kept walks every open connection (libcurl 7.88,
// close_connect_only), and thousands kept to one API make each completion cost thousands of steps.
//
// Turns: each turn of the loop runs the tasks and timers handed over, hands at most
// kMaxStartsPerTurn new transfers to libcurl (the others start on the next turns, in order),
// waits for at most 64 socket events and handles them. Short turns keep every socket served
// often: a few SMTP sessions among thousands of HTTP transfers to a slow API go on while those
// connect, instead of waiting for a turn that connects them all.
//
// Thread-safety: every method may be called from any thread, including from a callback.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace flowrun {

using SteadyTime = std::chrono::steady_clock::time_point;

struct OutboundLoopOptions {
  long max_connections_per_host = 256;  // Default: 256 (http.max_connections_per_host)
  long max_total_connections = 10000;   // Default: 10000 (http.max_connections); 0: no bound
  long max_idle_connections = 1024;     // see "Limits" above; Default: 1024
};

// Cheap readings for metrics; each is exact at some recent moment.
struct OutboundLoopStats {
  long long transfers_in_flight = 0;  // handed over, not yet ended (queued in libcurl included)
  long long socket_waits = 0;         // WaitFd calls not yet ended
  long long transfers_started = 0;    // since the loop was made
};

class OutboundLoop {
 public:
  // The code a transfer ends with when the loop stops before it finished.
  static constexpr CURLcode kStopped = CURLE_ABORTED_BY_CALLBACK;
  // What a socket wait ends with besides the poll events that came: its time ran out, or the loop
  // stopped.
  static constexpr int kWaitTimedOut = 0;
  static constexpr int kWaitStopped = -1;
  // How many transfers handed over one turn starts at most: see "Turns" above.
  static constexpr int kMaxStartsPerTurn = 64;

  using TransferDone = std::function<void(CURLcode code)>;
  using WaitDone = std::function<void(int revents)>;

  explicit OutboundLoop(OutboundLoopOptions options = {});
  ~OutboundLoop();  // Stop()
  OutboundLoop(const OutboundLoop&) = delete;
  OutboundLoop& operator=(const OutboundLoop&) = delete;

  // Starts the loop thread. Errors: kFailedPrecondition when already started or stopped.
  Status Start();
  // Ends everything in flight (see above) and joins the thread. Idempotent.
  void Stop();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

  // Performs the transfer `easy` (fully configured; REQUIRES: not in another multi) and calls
  // `done` with its result. The loop does not own `easy`; it is removed from the multi before
  // `done` runs, so `done` may reuse or free it. For an http:// origin the loop sets the socket
  // callbacks (CURLOPT_OPENSOCKETFUNCTION, CURLOPT_CLOSESOCKETFUNCTION) and possibly
  // CURLOPT_FRESH_CONNECT on `easy` (see "Reuse" above): reset it before configuring it again.
  // `origin` ("scheme://host:port"; empty: none) names where it connects: at most
  // max_connections_per_host transfers of one origin are in libcurl at once, the others wait in the
  // loop's queue for that origin, in order. (libcurl's multi visits every transfer it holds on each
  // turn, so thousands parked there would cost CPU.)
  void AddTransfer(CURL* easy, TransferDone done, std::string origin = {});
  // Waits until `fd` is ready for `events` (CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT) or `until`
  // passes, then calls `done` once with the events that came, kWaitTimedOut or kWaitStopped.
  void WaitFd(int fd, short events, SteadyTime until, WaitDone done);
  // Runs `task` on the loop thread (or, after Stop, on the caller's).
  void Post(std::function<void()> task);
  // Runs `task` on the loop thread once `when` has come (on a later turn, never inline). Dropped
  // unrun when the loop stops first. For a few timers at a time: not a timer wheel.
  void RunAt(SteadyTime when, std::function<void()> task);
  // Runs `hook` once, on the loop thread, when the loop stops, before what is in flight is ended
  // (or on the caller's thread when the loop already stopped or never ran). For clients that keep
  // state of their own on the loop (idle connections, queues) to close it.
  void OnStop(std::function<void()> hook);
  // True on the loop thread (inside a callback, task or hook).
  bool OnLoopThread() const;

  OutboundLoopStats Stats() const;

 private:
  struct PendingTransfer {
    CURL* easy;
    TransferDone done;
    std::string origin;
  };
  struct Origin {
    long active = 0;                      // its transfers in the multi
    std::deque<PendingTransfer> backlog;  // waiting for one of them to end
  };
  // The sockets open for one http:// origin, counted by the socket callbacks of its transfers.
  // Connections outlive their transfers (libcurl's cache closes them, possibly at
  // curl_multi_cleanup), so the count lives until its last socket closes or the loop is destroyed.
  struct OriginSockets {
    OutboundLoop* loop;
    std::string origin;
    long open = 0;
  };
  static curl_socket_t OpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int CloseSocket(void* clientp, curl_socket_t socket);
  struct Wait {
    int fd;
    short events;
    SteadyTime until;
    WaitDone done;
    uint64_t serial = 0;  // set by StartWait; with `until`, its key in wait_deadlines_
  };
  struct Timer {
    SteadyTime when;
    std::function<void()> task;
    bool operator>(const Timer& other) const { return when > other.when; }
  };

  void Run();
  // Adds to the multi, or to its origin's backlog when the origin is at its bound.
  void Admit(PendingTransfer transfer);
  void AddToMulti(PendingTransfer transfer);
  // For an http:// origin: counts its sockets, and skips libcurl's search for an idle connection
  // when it has none. `others` is how many of its transfers are in the multi besides this one.
  void TrackSockets(CURL* easy, const std::string& origin, long others);
  // Drops the socket count of an origin that has no socket open and no transfer in the loop.
  void MaybeForgetSockets(const std::string& origin);
  bool QueueEmptyLocked() const FLOWRUN_REQUIRES(mu_);
  void TakeQueued();
  // Writes to the eventfd: the loop's next (or current) epoll_wait returns.
  void WakeLoop();
  // libcurl's CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION: keep the epoll set and the
  // deadline of libcurl's next timeout in step with what libcurl waits for.
  static int OnCurlSocket(CURL* easy, curl_socket_t fd, int what, void* loop, void* known);
  static int OnCurlTimer(CURLM* multi, long timeout_ms, void* loop);
  // Adds a wait; its fd's interest in the epoll set changes at the next SyncWaitFds.
  void StartWait(Wait wait);
  // Sets the epoll interest of each fd whose waits changed to the union of their events, or
  // removes it when none is left (once per turn, so a wait that ends and is set again by its
  // callback costs no epoll_ctl).
  void SyncWaitFds();
  void FinishTransfers();
  // Ends the waits whose fd became ready (`ready`: fd -> poll-style revents) or whose time ran out.
  void FinishWaits(const std::unordered_map<int, short>& ready);
  // Removes wait `index` of `waits` (those of `fd`) and its deadline; queues its callback.
  void EndWait(int fd, std::vector<Wait>& waits, size_t index, int revents,
               std::vector<std::pair<WaitDone, int>>& ended);
  void RunDueTimers();
  int PollTimeoutMs() const;
  void EndEverything();
  void RunStopHooks();

  const OutboundLoopOptions options_;
  CURLM* multi_ = nullptr;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd in the epoll set
  std::thread thread_;
  Mutex join_mu_;  // one outside caller of Stop joins; another waits for it
  std::atomic<std::thread::id> loop_thread_{};  // set by the loop thread as it begins
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};

  Mutex mu_;
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  bool finished_ FLOWRUN_GUARDED_BY(mu_) = false;  // the loop thread ran its last task
  std::vector<PendingTransfer> queued_transfers_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<Wait> queued_waits_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<std::function<void()>> queued_tasks_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<Timer> queued_timers_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<std::function<void()>> stop_hooks_ FLOWRUN_GUARDED_BY(mu_);
  bool hooks_ran_ FLOWRUN_GUARDED_BY(mu_) = false;

  // Loop thread only.
  std::unordered_map<CURL*, PendingTransfer> active_;
  std::unordered_map<std::string, Origin> origins_;
  // Loop thread, and the destructor (curl_multi_cleanup closes the cached connections).
  std::unordered_map<std::string, std::unique_ptr<OriginSockets>> sockets_;
  std::unordered_map<int, std::vector<Wait>> waits_;  // by fd
  // Every wait in waits_ by (until, serial, fd): a turn finds the next deadline and the waits
  // whose time ran out without visiting the others (thousands wait on slow peers at once).
  std::set<std::tuple<SteadyTime, uint64_t, int>> wait_deadlines_;
  uint64_t next_wait_serial_ = 0;
  std::unordered_map<int, short> watched_wait_fds_;  // what the epoll set holds for wait fds
  std::vector<int> changed_wait_fds_;                // for SyncWaitFds
  std::vector<int> unwatchable_wait_fds_;            // epoll refused them: ready at once
  std::vector<Timer> timers_;                        // a min-heap on `when`
  bool curl_timer_set_ = false;                      // libcurl asked for a timeout ...
  SteadyTime curl_deadline_;                         // ... at this time
  std::vector<PendingTransfer> taken_transfers_;
  std::deque<PendingTransfer> starting_;  // taken, not yet admitted: see "Turns" above
  std::vector<Wait> taken_waits_;
  std::vector<std::function<void()>> taken_tasks_;
  std::vector<Timer> taken_timers_;

  std::atomic<long long> transfers_in_flight_{0};
  std::atomic<long long> socket_waits_{0};
  std::atomic<long long> transfers_started_{0};
};

}  // namespace flowrun
