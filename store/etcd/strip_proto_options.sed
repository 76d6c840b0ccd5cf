# Turns one of etcd's .proto files into one protoc compiles without gogoproto or the
# grpc-gateway annotations, neither of which Debian ships for C++. The options only
# steer Go code generation and the HTTP gateway; the wire format is unchanged.
/^import "gogoproto\//d
/^import "google\/api\//d
/^option (gogoproto\./d
/option (google\.api\.http) = {/,/};/d
s/\[(gogoproto\.[^]]*\]//g
s|^import "etcd/mvcc/mvccpb/kv.proto";|import "store/etcd/gen/kv.proto";|
s|^import "etcd/auth/authpb/auth.proto";|import "store/etcd/gen/auth.proto";|
