// FlowRegistry: the service's ProgramCatalog, kept in step with the flows directory.
//
//   Load / Reload  run LoadFlowSet over the directory. Each valid flow whose revision is new
//                  becomes the current revision (published to the store first, then served).
//                  A file with errors is reported (a structured log line and FlowFileStatus) and
//                  the flow's last good revision keeps serving. A flow whose file is gone stops
//                  starting runs; its revisions stay available to the runs pinned to them.
//   ReloadAll      what SIGHUP does: loads a directory (the same or another) as one set, all or
//                  nothing. Only when every flow file in it compiles does it become the registry's
//                  directory, loaded as by Reload; otherwise nothing changes.
//   PollForChanges compares the directory's fingerprint (every *.yaml / *.yml with its size and
//                  mtime) with the last load and reloads when it differs. The runtime calls it
//                  once a second.
//   Secrets        with FlowRegistryOptions::secret_is_set, a flow that reads a secret that is not
//                  set is "not ready": it is logged, shown with the missing names, and not
//                  started (Current and AllCurrent leave it out) until the secret is set and the
//                  flows are reloaded; runs already pinned to a revision still find it (Find).
//   Find           revisions not loaded from files (runs pinned to a revision that an edit or a
//                  restart left behind) are fetched from the store and compiled on first use, so
//                  every unfinished run finds its program after a restart.
//
// Thread-safety: all methods may be called from many threads at once. `mu_` guards the catalog
// maps and the status; Load/Reload/PollForChanges are serialized by `reload_mu_` so two reloads
// never interleave. Compilation and store reads run without `mu_` held.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "flow/diagnostic.h"
#include "flow/flow_set.h"
#include "store/store.h"

namespace flowrun {

// One flow file as the last load saw it.
struct FlowFileStatus {
  std::string path;
  std::string flow_id;   // empty when the file has no readable id
  bool valid = false;    // compiled without errors
  std::string revision;  // the revision compiled from the file; empty when invalid
  // Every diagnostic of the file (warnings too), and the same rendered as
  // `path:line:col: error: message [rule]` lines.
  std::vector<Diagnostic> diagnostics;
  std::vector<std::string> messages;
};

// One flow the registry knows, for /v1/flows and the dashboard.
struct FlowStatus {
  std::string flow_id;
  // The revision new runs start, or null when the flow was deleted (retired).
  std::shared_ptr<const Program> current;
  std::string source_path;  // the file it was last loaded from
  // False when the flow's file failed its last load; `current` is then the last good revision.
  bool valid = true;
  std::vector<std::string> errors;  // the file's rendered diagnostics when invalid
  TimePoint updated_at;             // when `current` last changed
  // Secrets `current` reads that are not set: while not empty the flow is not ready and starts no
  // runs.
  std::vector<std::string> missing_secrets;
  bool ready() const { return current != nullptr && missing_secrets.empty(); }
};

struct FlowRegistryStatus {
  std::string flows_dir;
  TimePoint loaded_at;                // the last load or reload
  int64_t generation = 0;             // increases with every load that changed a current revision
  std::vector<FlowFileStatus> files;  // sorted by path
  std::vector<std::string> path_errors;  // a missing directory and the like
  std::vector<FlowStatus> flows;         // sorted by flow id
};

// What a reload changed.
struct ReloadReport {
  std::vector<std::string> updated;    // flows with a new current revision ("id@revision")
  std::vector<std::string> retired;    // flows whose file disappeared
  std::vector<std::string> invalid;    // files with errors
  std::vector<std::string> not_ready;  // flows that read secrets that are not set
  bool changed() const { return !updated.empty() || !retired.empty(); }
};

struct FlowRegistryOptions {
  std::string flows_dir;         // REQUIRES: set
  CompileOptions compile;        // e.g. checks that `db` steps name configured databases
  const Clock* clock = nullptr;  // REQUIRES: set; outlives the registry
  // Publishes a revision to the store before it serves (Engine::PublishRevision). Default: none.
  std::function<Status(const Program&)> publish;
  // Whether a secret is set. Default: none (flows are not checked for secrets).
  std::function<bool(const std::string& name)> secret_is_set;
};

class FlowRegistry final : public ProgramCatalog {
 public:
  // `store` is read for revisions that no file provides. REQUIRES: outlives the registry.
  FlowRegistry(store::Store& store, FlowRegistryOptions options);
  FlowRegistry(const FlowRegistry&) = delete;
  FlowRegistry& operator=(const FlowRegistry&) = delete;

  // Loads the directory. Invalid files are reported, not fatal; a failure to publish is an error.
  [[nodiscard]] StatusOr<ReloadReport> Reload();
  // Loads `flows_dir` all or nothing. When the directory exists and every flow file in it
  // compiles (no error diagnostic in any file, no two files with one flow id), it becomes the
  // registry's directory and its flows serve as after Reload: new revisions become current,
  // flows without a file are retired, runs stay on the revision they started on. Otherwise
  // nothing changes, not even the diagnostics Snapshot shows, and the error (kInvalidArgument, or
  // kNotFound for a missing directory) lists every problem, one `path:line:col: error: …` per
  // line. A failure to publish is returned as from Reload.
  [[nodiscard]] StatusOr<ReloadReport> ReloadAll(const std::string& flows_dir);
  // Reloads when the directory changed since the last load; an empty report otherwise.
  [[nodiscard]] StatusOr<ReloadReport> PollForChanges();

  // What the last load found, for /v1/flows and the dashboard.
  FlowRegistryStatus Snapshot() const;
  // Every stored revision of a flow, oldest first (from the store).
  [[nodiscard]] StatusOr<std::vector<store::FlowRevisionRecord>> Revisions(
      std::string_view flow_id) const;

  // ProgramCatalog.
  std::shared_ptr<const Program> Find(std::string_view flow_id,
                                      std::string_view revision) const override;
  std::shared_ptr<const Program> Current(std::string_view flow_id) const override;
  std::vector<std::shared_ptr<const Program>> AllCurrent() const override;

 private:
  // The files under `flows_dir` with their size and mtime, as one comparable string.
  std::string Fingerprint(const std::string& flows_dir) const;
  [[nodiscard]] StatusOr<ReloadReport> ReloadLocked() FLOWRUN_REQUIRES(reload_mu_);
  // Makes `set` (loaded from flows_dir_) what the registry serves.
  [[nodiscard]] StatusOr<ReloadReport> ApplyLocked(FlowSet set) FLOWRUN_REQUIRES(reload_mu_);

  store::Store& store_;
  const FlowRegistryOptions options_;

  Mutex reload_mu_;
  std::string fingerprint_ FLOWRUN_GUARDED_BY(reload_mu_);
  // The directory loaded; options_.flows_dir until ReloadAll moves it. Written with both
  // reload_mu_ and mu_ held; read with either (which the annotations cannot say).
  std::string flows_dir_;

  mutable Mutex mu_;
  // Every known revision by (flow id, revision); those fetched from the store are added on first
  // use.
  mutable std::map<std::pair<std::string, std::string>, std::shared_ptr<const Program>, std::less<>>
      revisions_ FLOWRUN_GUARDED_BY(mu_);
  // (flow id, revision) pairs that the store does not hold or that failed to compile, so a
  // missing revision is not fetched again on every call.
  mutable std::set<std::pair<std::string, std::string>, std::less<>> unavailable_
      FLOWRUN_GUARDED_BY(mu_);
  std::map<std::string, FlowStatus, std::less<>> flows_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<FlowFileStatus> files_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<std::string> path_errors_ FLOWRUN_GUARDED_BY(mu_);
  TimePoint loaded_at_ FLOWRUN_GUARDED_BY(mu_);
  int64_t generation_ FLOWRUN_GUARDED_BY(mu_) = 0;
};

}  // namespace flowrun
