#include "server/node_membership.h"

#include <algorithm>

#include "common/log.h"

namespace flowrun {

StatusOr<std::unique_ptr<NodeMembership>> NodeMembership::Create(NodeMembershipOptions options,
                                                                 store::Store* store,
                                                                 const Clock* clock,
                                                                 MetricsRegistry& metrics) {
  ASSIGN_OR_RETURN(GaugeFamily * nodes,
                   metrics.AddGauge("flowrun_nodes",
                                    "Live nodes sharing the store (heartbeats within the "
                                    "takeover time)"));
  ASSIGN_OR_RETURN(
      GaugeFamily * leases,
      metrics.AddGauge("flowrun_node_leases", "Runs each live node holds a lease on", {"node"}));
  return std::unique_ptr<NodeMembership>(
      new NodeMembership(std::move(options), store, clock, nodes, leases));
}

NodeMembership::NodeMembership(NodeMembershipOptions options, store::Store* store,
                               const Clock* clock, GaugeFamily* nodes, GaugeFamily* leases)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      nodes_gauge_(nodes),
      leases_gauge_(leases),
      started_at_(clock->Now()) {}

NodeMembership::~NodeMembership() { Stop(); }

void NodeMembership::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void NodeMembership::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

StatusOr<std::vector<std::string>> NodeMembership::Beat() {
  const TimePoint now = clock_->Now();
  store::WriteBatch batch;
  batch.Add(store::HeartbeatOp{options_.node_id, started_at_});
  batch.Add(store::TakeOverDeadNodesOp{options_.node_id, now - options_.takeover_after});
  ASSIGN_OR_RETURN(store::BatchResult result, store_->Commit(std::move(batch)));
  RETURN_IF_ERROR(result.status);
  for (const std::string& dead : result.dead_nodes) {
    LogWarn(
        "node taken over: no heartbeat within the takeover time",
        {{"node", dead},
         {"runs", result.released_leases},
         {"takeover_after_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.takeover_after).count()}});
  }
  if (result.released_leases > 0 && options_.on_takeover) options_.on_takeover();
  RefreshGauges();
  return result.dead_nodes;
}

void NodeMembership::RefreshGauges() {
  auto nodes = store_->ListNodes();
  if (!nodes.ok()) return;
  MutexLock lock(gauges_mu_);
  std::set<std::string> live;
  for (const store::NodeRecord& node : *nodes) {
    live.insert(node.id);
    leases_gauge_->WithLabels({node.id}).Set(static_cast<double>(node.leases));
  }
  for (const std::string& gone : seen_nodes_) {
    if (!live.count(gone)) leases_gauge_->WithLabels({gone}).Set(0);
  }
  seen_nodes_.insert(live.begin(), live.end());
  nodes_gauge_->WithLabels({}).Set(static_cast<double>(live.size()));
}

void NodeMembership::Loop() {
  const Duration interval =
      std::max<Duration>(options_.takeover_after / 5, std::chrono::milliseconds(50));
  for (;;) {
    if (auto beat = Beat(); !beat.ok()) {
      LogError("node heartbeat failed", {{"error", beat.status().ToString()}});
    }
    MutexLock lock(mu_);
    if (lock.WaitFor(cv_, interval, [this]() FLOWRUN_REQUIRES(mu_) { return stopping_; })) return;
  }
}

}  // namespace flowrun
