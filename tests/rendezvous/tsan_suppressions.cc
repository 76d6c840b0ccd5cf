// ThreadSanitizer suppressions for server_test, compiled in so that
// `bazel test --config=tsan //tests/rendezvous/...` needs no extra flags. TSan
// calls this hook at start-up; in other builds the function is simply unused.
//
// Debian's gRPC, gpr, protobuf, Abseil and OpenSSL are not built with TSan:
// their internal locks and atomics are invisible to it, so every hand-off
// between gRPC threads (and Abseil's deadlock-detection graph) reads as a race.
// gRPC's C++ call machinery is header code compiled into the test but
// synchronised by that uninstrumented core. Our own code synchronises with
// std::mutex / std::condition_variable, which TSan sees, and kv_table_test and
// memory_store_test run without any suppression.
extern "C" const char* __tsan_default_suppressions() {
  return "race:libgrpc.so\n"
         "race:libgrpc++.so\n"
         "race:libgpr.so\n"
         "race:libprotobuf.so\n"
         "race:libabsl_\n"
         "race:libcrypto.so\n"
         "race:libssl.so\n"
         "race:grpc::internal::\n"
         "race:grpc::CompletionQueue\n"
         "called_from_lib:libgrpc.so\n"
         "called_from_lib:libgrpc++.so\n"
         "called_from_lib:libgpr.so\n"
         "called_from_lib:libabsl_synchronization\n"
         "called_from_lib:libabsl_graphcycles_internal\n"
         "called_from_lib:libcrypto.so\n"
         "called_from_lib:libssl.so\n";
}
