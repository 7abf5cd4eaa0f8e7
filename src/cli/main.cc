// flowrun's entry point: it only dispatches to the subcommands in src/cli/.
#include "cli/app.h"

int main(int argc, char** argv) { return flowrun::cli::Main(argc, argv); }
