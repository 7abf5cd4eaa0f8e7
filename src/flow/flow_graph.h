// FlowGraph: a Program drawn as nodes and edges, for `flowrun graph` and the dashboard. Branches
// (switch, parallel), loops (foreach), waits, sleeps, conditions and error handlers each have a
// shape of their own. Render it as Mermaid or Graphviz DOT.
//
// Thread-safety: a value; the functions are pure.
#pragma once

#include <string>
#include <vector>

#include "flow/program.h"
#include "flow/step_kinds.h"

namespace flowrun {

struct FlowGraph {
  using Shape = GraphShape;  // a step's shape is in its StepKinds row
  struct Node {
    std::string id;  // n0, n1, … in creation order
    std::string label;
    Shape shape = Shape::kStep;
  };
  struct Edge {
    std::string from;
    std::string to;
    std::string label;
    bool dashed = false;  // skipped conditions and error paths
  };
  std::vector<Node> nodes;
  std::vector<Edge> edges;
};

FlowGraph BuildFlowGraph(const Program& program);
std::string RenderMermaid(const FlowGraph& graph);
std::string RenderDot(const FlowGraph& graph, const std::string& name);

}  // namespace flowrun
