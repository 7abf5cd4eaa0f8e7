// NodeMembership: this node's part in the membership of a store shared by several nodes. On a
// thread of its own, every `takeover_after / 5`, it commits a heartbeat (HeartbeatOp) and takes
// over the nodes whose last heartbeat is older than `takeover_after` (TakeOverDeadNodesOp): their
// leases end and their runs are due at once, for any live node to claim. A dead node's runs are
// therefore advanced elsewhere within about `takeover_after` plus one beat, and a node that was
// only paused commits nothing for the runs it lost (lease fencing, store.h).
//
// /metrics: flowrun_nodes (live nodes) and flowrun_node_leases{node} (runs each holds), refreshed
// every beat.
//
// Thread-safety: Beat may be called from any thread; Start and Stop from one.
#pragma once

#include <condition_variable>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "server/metrics.h"
#include "store/store.h"

namespace flowrun {

struct NodeMembershipOptions {
  std::string node_id;
  // How long a node may go without a heartbeat before its leases are taken over. Default: 5 s.
  Duration takeover_after = std::chrono::seconds(5);
  // Called after a beat that took over a dead node's runs (they are due now). May be empty.
  std::function<void()> on_takeover;
};

class NodeMembership {
 public:
  // Registers the gauges in `metrics`. REQUIRES: `store`, `clock` and `metrics` outlive it.
  [[nodiscard]] static StatusOr<std::unique_ptr<NodeMembership>> Create(
      NodeMembershipOptions options, store::Store* store, const Clock* clock,
      MetricsRegistry& metrics);
  ~NodeMembership();
  NodeMembership(const NodeMembership&) = delete;
  NodeMembership& operator=(const NodeMembership&) = delete;

  // Beats once at once, then every takeover_after / 5 on the thread.
  void Start();
  // Ends the thread after the beat in progress.
  void Stop();

  // One beat: heartbeat, takeover, gauges. Returns the nodes found dead.
  [[nodiscard]] StatusOr<std::vector<std::string>> Beat();

 private:
  NodeMembership(NodeMembershipOptions options, store::Store* store, const Clock* clock,
                 GaugeFamily* nodes, GaugeFamily* leases);
  void Loop();
  void RefreshGauges();

  const NodeMembershipOptions options_;
  store::Store* const store_;
  const Clock* const clock_;
  GaugeFamily* const nodes_gauge_;
  GaugeFamily* const leases_gauge_;
  const TimePoint started_at_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  Mutex gauges_mu_;
  // Series to zero when gone.
  std::set<std::string> seen_nodes_ FLOWRUN_GUARDED_BY(gauges_mu_);
  std::thread thread_;
};

}  // namespace flowrun
