// The JSON shapes of the HTTP API's responses (docs/api.md): runs with their steps and journal,
// events, flows with revisions, validation state and graph, and outbox messages. Every value that
// can hold a secret (run events, step inputs and outputs, errors, outbox mail) passes through the
// SecretRedactor first.
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "actions/email/email_outbox.h"
#include "common/json.h"
#include "config/secrets.h"
#include "server/flow_registry.h"
#include "store/store.h"

namespace flowrun {

// {id, flow, revision, status, event, output, error, created_at, updated_at, ended_at, …}
Json RunToJson(const store::RunRecord& run, const SecretRedactor& redactor);

// RunToJson plus "steps" (one entry per step key, in first-seen order: status, attempts, input,
// output, error, started_at, ended_at, duration_ms) and "journal" (the raw entries).
Json RunDetailToJson(const store::RunRecord& run, const std::vector<store::JournalEntry>& journal,
                     const SecretRedactor& redactor);

// {id, name, data, ts, client_id, seq}; the data is stored verbatim and returned verbatim.
Json EventToJson(const store::EventRecord& event);

// A flow in the list: {id, description, revision, valid, retired, errors, source_path,
// updated_at, triggers}.
Json FlowSummaryToJson(const FlowStatus& flow);

// One flow: the summary plus "revisions" (oldest first: {revision, created_at, current}),
// "graph" ({mermaid}) and "document" of the current revision, and "files" (the load status of
// files that define it, with their diagnostics).
Json FlowDetailToJson(const FlowStatus& flow,
                      const std::vector<store::FlowRevisionRecord>& revisions,
                      const std::vector<FlowFileStatus>& files);

Json OutboxMessageToJson(const OutboxMessage& message, const SecretRedactor& redactor);

}  // namespace flowrun
