#include "flow/flow_graph.h"

#include <sstream>

namespace flowrun {
namespace {

// An edge still waiting for its target: the node it leaves and the edge's label.
struct OpenEdge {
  std::string from;
  std::string label;
  bool dashed = false;
};

class GraphBuilder {
 public:
  FlowGraph Build(const Program& program) {
    std::string trigger;
    for (const auto& t : program.event_triggers) trigger += (trigger.empty() ? "" : ", ") + t.event;
    for (const auto& t : program.cron_triggers) {
      trigger += (trigger.empty() ? "cron " : ", cron ") + t.schedule.ToString();
    }
    std::string start =
        AddNode(trigger.empty() ? program.flow_id : trigger, FlowGraph::Shape::kTerminal);
    std::vector<OpenEdge> open = AddList(program.steps, {{start, "", false}});
    std::string end = AddNode("end", FlowGraph::Shape::kTerminal);
    Connect(open, end);
    if (!program.on_failure.empty()) {
      std::string failed = AddNode("run failed", FlowGraph::Shape::kTerminal);
      AddList(program.on_failure, {{failed, "", false}});
    }
    return std::move(graph_);
  }

 private:
  std::string AddNode(std::string label, FlowGraph::Shape shape) {
    std::string id = "n" + std::to_string(graph_.nodes.size());
    graph_.nodes.push_back({id, std::move(label), shape});
    return id;
  }

  void Connect(const std::vector<OpenEdge>& open, const std::string& to) {
    for (const auto& e : open) graph_.edges.push_back({e.from, to, e.label, e.dashed});
  }

  std::vector<OpenEdge> AddList(const StepList& steps, std::vector<OpenEdge> open) {
    for (const auto& step : steps) open = AddStep(step, std::move(open));
    return open;
  }

  static std::string ActionLabel(const CompiledStep& step) {
    std::string label = step.id + ": " + step.action;
    const Json& args = step.raw_arguments;
    auto text = [](const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    switch (step.kind) {
      case StepKind::kWaitForEvent:
        if (!args.is_object()) break;
        label = step.id + ": wait for " + (args.contains("event") ? text(args["event"]) : "event");
        if (args.contains("timeout")) label += " (" + text(args["timeout"]) + ")";
        break;
      case StepKind::kSleep:
        label = step.id + ": sleep " + text(args);
        break;
      case StepKind::kSleepUntil:
        label = step.id + ": sleep until " + text(args);
        break;
      case StepKind::kInvoke:
        if (args.is_object() && args.contains("flow")) label += " " + text(args["flow"]);
        break;
      case StepKind::kAction:
        // An http step shows its method.
        if (step.action == "http" && args.is_object()) {
          label += " " + (args.contains("method") ? text(args["method"]) : std::string("GET"));
        }
        break;
      case StepKind::kSendEvent:
      case StepKind::kSet:
      case StepKind::kLog:
      case StepKind::kFail:
      case StepKind::kReturn:
      case StepKind::kSwitch:
      case StepKind::kParallel:
      case StepKind::kForeach:
      case StepKind::kBlock:
        break;
    }
    return label;
  }

  std::vector<OpenEdge> AddStep(const CompiledStep& step, std::vector<OpenEdge> open) {
    std::vector<OpenEdge> exits;
    std::string entry;
    const FlowGraph::Shape shape = StepKinds::BuiltIn().Of(step.kind).shape;
    switch (step.kind) {
      case StepKind::kAction:
      case StepKind::kWaitForEvent:
      case StepKind::kSleep:
      case StepKind::kSleepUntil:
      case StepKind::kSendEvent:
      case StepKind::kInvoke:
      case StepKind::kSet:
      case StepKind::kLog:
      case StepKind::kFail:
      case StepKind::kReturn:
        entry = AddNode(ActionLabel(step), shape);
        Connect(open, entry);
        exits.push_back({entry, "", false});
        break;
      case StepKind::kBlock:
        entry = AddNode(step.id, shape);
        Connect(open, entry);
        exits = AddList(step.body, {{entry, "", false}});
        break;
      case StepKind::kSwitch: {
        entry = AddNode(step.id + ": switch", shape);
        Connect(open, entry);
        for (const auto& c : step.cases) {
          auto out = AddList(c.steps, {{entry, c.when.source(), false}});
          exits.insert(exits.end(), out.begin(), out.end());
        }
        auto out = AddList(step.default_steps, {{entry, "default", false}});
        exits.insert(exits.end(), out.begin(), out.end());
        break;
      }
      case StepKind::kParallel: {
        entry = AddNode(step.id + ": parallel", shape);
        Connect(open, entry);
        std::string join = AddNode(step.id + ": join", FlowGraph::Shape::kJoin);
        for (const auto& [name, branch] : step.branches) {
          Connect(AddList(branch, {{entry, name, false}}), join);
        }
        exits.push_back({join, "", false});
        break;
      }
      case StepKind::kForeach: {
        std::string label = step.id + ": for each " + step.loop_variable + " in " +
                            (step.items ? step.items->source() : std::string("items"));
        if (step.concurrency > 1) label += " (" + std::to_string(step.concurrency) + " at once)";
        entry = AddNode(label, shape);
        Connect(open, entry);
        Connect(AddList(step.body, {{entry, "next", false}}), entry);
        exits.push_back({entry, "done", false});
        break;
      }
    }
    if (step.on_error.mode == OnError::Mode::kHandler) {
      auto out = AddList(step.on_error.handler, {{entry, "on error", true}});
      exits.insert(exits.end(), out.begin(), out.end());
    } else if (step.on_error.mode == OnError::Mode::kContinue) {
      exits.push_back({entry, "on error: continue", true});
    }
    if (step.condition) {
      // A skipped step: the paths into it also lead past it.
      for (auto e : open) {
        e.label = "skip unless " + step.condition->source();
        e.dashed = true;
        exits.push_back(e);
      }
    }
    return exits;
  }

  FlowGraph graph_;
};

std::string MermaidLabel(const std::string& label) {
  std::string out;
  for (char c : label) {
    if (c == '"') {
      out += "#quot;";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string DotQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

}  // namespace

FlowGraph BuildFlowGraph(const Program& program) { return GraphBuilder().Build(program); }

std::string RenderMermaid(const FlowGraph& graph) {
  std::ostringstream out;
  out << "flowchart TD\n";
  for (const auto& node : graph.nodes) {
    std::string label = "\"" + MermaidLabel(node.label) + "\"";
    out << "  " << node.id;
    switch (node.shape) {
      case FlowGraph::Shape::kTerminal:
        out << "((" << label << "))";
        break;
      case FlowGraph::Shape::kStep:
        out << "[" << label << "]";
        break;
      case FlowGraph::Shape::kDecision:
        out << "{" << label << "}";
        break;
      case FlowGraph::Shape::kWait:
        out << "{{" << label << "}}";
        break;
      case FlowGraph::Shape::kSleep:
        out << "([" << label << "])";
        break;
      case FlowGraph::Shape::kLoop:
        out << "[/" << label << "/]";
        break;
      case FlowGraph::Shape::kFork:
      case FlowGraph::Shape::kJoin:
        out << "[[" << label << "]]";
        break;
    }
    out << "\n";
  }
  for (const auto& edge : graph.edges) {
    out << "  " << edge.from << (edge.dashed ? " -.->" : " -->");
    if (!edge.label.empty()) out << "|\"" << MermaidLabel(edge.label) << "\"|";
    out << " " << edge.to << "\n";
  }
  return out.str();
}

std::string RenderDot(const FlowGraph& graph, const std::string& name) {
  std::ostringstream out;
  out << "digraph " << DotQuote(name) << " {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n";
  for (const auto& node : graph.nodes) {
    const char* shape = "box";
    switch (node.shape) {
      case FlowGraph::Shape::kTerminal:
        shape = "oval";
        break;
      case FlowGraph::Shape::kStep:
        shape = "box";
        break;
      case FlowGraph::Shape::kDecision:
        shape = "diamond";
        break;
      case FlowGraph::Shape::kWait:
        shape = "hexagon";
        break;
      case FlowGraph::Shape::kSleep:
        shape = "box\", style=\"rounded";
        break;
      case FlowGraph::Shape::kLoop:
        shape = "parallelogram";
        break;
      case FlowGraph::Shape::kFork:
      case FlowGraph::Shape::kJoin:
        shape = "box\", style=\"bold";
        break;
    }
    out << "  " << node.id << " [label=" << DotQuote(node.label) << ", shape=\"" << shape
        << "\"];\n";
  }
  for (const auto& edge : graph.edges) {
    out << "  " << edge.from << " -> " << edge.to;
    std::string attrs;
    if (!edge.label.empty()) attrs += "label=" + DotQuote(edge.label);
    if (edge.dashed) attrs += std::string(attrs.empty() ? "" : ", ") + "style=dashed";
    if (!attrs.empty()) out << " [" << attrs << "]";
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace flowrun
