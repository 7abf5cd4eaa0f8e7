// CheckFlowsAgainstConfig: what `flowrun validate --config FILE` adds to validation: that every
// database, secret, SMTP setting and webhook secret the flows use is configured, so a flow that
// passes CI does not fail in production for want of a setting. Each problem names the flow, the
// step and the missing name, located at the flow file's line and column (or the config's, for
// settings of the config itself).
//
//   config-database  a db step names a database that `databases:` lacks
//   config-secret    a flow (or smtp, or a webhook) reads a secret the config's source lacks
//   config-smtp      an email step has no `from` and smtp.from is not set
//
// Thread-safety: pure function of its inputs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "flow/diagnostic.h"
#include "flow/flow_set.h"

namespace flowrun {

// `secret_is_set` tells whether the config's secrets source provides a name.
std::vector<Diagnostic> CheckFlowsAgainstConfig(
    const FlowSet& flows, const Config& config, const LoadedConfig& loaded_config,
    const std::function<bool(const std::string& name)>& secret_is_set);

}  // namespace flowrun
