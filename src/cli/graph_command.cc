// `flowrun graph FLOW [--format mermaid|dot] [--flows DIR]`: draws a flow's step graph. FLOW is a
// flow file, or a flow id looked up in the flows directory.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "flow/diagnostic_printer.h"
#include "flow/flow_graph.h"
#include "flow/flow_set.h"

namespace flowrun::cli {
namespace {

struct GraphOptions {
  std::string flow;
  std::string format = "mermaid";
  std::string flows_dir = "flows";
};

int RunGraph(const GraphOptions& options) {
  bool is_file = std::filesystem::is_regular_file(options.flow);
  FlowSet set = LoadFlowSet({is_file ? options.flow : options.flows_dir});
  for (const auto& error : set.path_errors) std::cerr << "flowrun graph: " << error << "\n";
  if (!set.path_errors.empty()) return kExitUsage;
  std::shared_ptr<const Program> program;
  if (is_file) {
    if (!set.files.empty()) program = set.files.front().program;
  } else {
    auto programs = set.ProgramsById();
    auto it = programs.find(options.flow);
    if (it == programs.end()) {
      std::cerr << "flowrun graph: no valid flow \"" << options.flow << "\" in "
                << options.flows_dir << "\n";
      return kExitUsage;
    }
    program = it->second;
  }
  if (!program) {
    PrintDiagnostics(std::cerr, set.diagnostics, DiagnosticFormat::kText, set.Sources(), false);
    return kExitFailure;
  }
  FlowGraph graph = BuildFlowGraph(*program);
  std::cout << (options.format == "dot" ? RenderDot(graph, program->flow_id)
                                        : RenderMermaid(graph));
  return kExitOk;
}

}  // namespace

void SetupGraphCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<GraphOptions>();
  CLI::App* command = app.add_subcommand("graph", "Draw a flow's step graph");
  command->add_option("flow", options->flow, "A flow file, or a flow id")->required();
  command->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"mermaid", "dot"}));
  command->add_option("--flows", options->flows_dir, "Where to look up a flow id");
  command->callback([options, &exit_code] { exit_code = RunGraph(*options); });
}

}  // namespace flowrun::cli
