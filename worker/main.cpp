// zpipe-worker: runs the built-in task kinds.
#include "zpipe/worker.hpp"

int main(int argc, char** argv) { return zpipe::worker_main(argc, argv, zpipe::builtin_kinds()); }
