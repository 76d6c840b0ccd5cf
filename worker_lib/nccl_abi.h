// Hand-written declarations of the parts of NCCL's and the CUDA runtime's C ABI
// that worker_lib uses, so that nothing needs nccl.h or CUDA headers at build
// time: both libraries are dlopen'ed at run time (nccl_library.h). Written
// against NCCL 2.28 and CUDA 13; tests/worker_lib/nccl_abi_check_test compiles
// them against the real headers wherever /usr/local/cuda/include/nccl.h exists
// and checks sizes, offsets, enum values and function signatures. Private to
// the nccl target.
#ifndef TPLAUNCH_WORKER_LIB_NCCL_ABI_H_
#define TPLAUNCH_WORKER_LIB_NCCL_ABI_H_

#include <cstddef>

namespace tplaunch {
namespace nccl_abi {

// ---- NCCL ----

inline constexpr int kUniqueIdBytes = 128;
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};

using ncclComm_t = struct ncclComm*;

enum ncclResult_t : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};

enum ncclRedOp_t : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3 };

enum ncclDataType_t : int {
  ncclInt32 = 2,
  ncclInt64 = 4,
  ncclFloat32 = 7,
  ncclFloat64 = 8,
  ncclBfloat16 = 9,
};

// ncclConfig_t as of NCCL 2.28 (struct ncclConfig_v22800). NCCL reads `size`,
// `magic` and `version` first and ignores fields a given library version does
// not know.
struct ncclConfig_t {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char* netName;
  int splitShare;
  int trafficClass;
  const char* commName;
  int collnetEnable;
  int CTAPolicy;
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
};
inline constexpr unsigned int kConfigMagic = 0xcafebeef;
// NCCL_VERSION(2, 28, 0): the layout above.
inline constexpr unsigned int kConfigVersion = 22800;
// NCCL_CONFIG_UNDEF_INT: "use NCCL's default".
inline constexpr int kConfigUndefInt = -2147483647 - 1;

// Returns a config equal to NCCL_CONFIG_INITIALIZER.
inline ncclConfig_t DefaultConfig() {
  ncclConfig_t config;
  config.size = sizeof(ncclConfig_t);
  config.magic = kConfigMagic;
  config.version = kConfigVersion;
  config.blocking = kConfigUndefInt;
  config.cgaClusterSize = kConfigUndefInt;
  config.minCTAs = kConfigUndefInt;
  config.maxCTAs = kConfigUndefInt;
  config.netName = nullptr;
  config.splitShare = kConfigUndefInt;
  config.trafficClass = kConfigUndefInt;
  config.commName = nullptr;
  config.collnetEnable = kConfigUndefInt;
  config.CTAPolicy = kConfigUndefInt;
  config.shrinkShare = kConfigUndefInt;
  config.nvlsCTAs = kConfigUndefInt;
  config.nChannelsPerNetPeer = kConfigUndefInt;
  config.nvlinkCentricSched = kConfigUndefInt;
  return config;
}

// cudaStream_t is an opaque pointer (struct CUstream_st*).
using cudaStream_t = void*;

using ncclGetVersion_fn = ncclResult_t (*)(int* version);
using ncclGetUniqueId_fn = ncclResult_t (*)(ncclUniqueId* unique_id);
using ncclCommInitRankConfig_fn = ncclResult_t (*)(ncclComm_t* comm, int nranks,
                                                   ncclUniqueId comm_id,
                                                   int rank,
                                                   ncclConfig_t* config);
using ncclCommInitRankScalable_fn = ncclResult_t (*)(ncclComm_t* comm,
                                                     int nranks, int myrank,
                                                     int n_id,
                                                     ncclUniqueId* comm_ids,
                                                     ncclConfig_t* config);
using ncclCommGetAsyncError_fn = ncclResult_t (*)(ncclComm_t comm,
                                                  ncclResult_t* async_error);
using ncclCommAbort_fn = ncclResult_t (*)(ncclComm_t comm);
using ncclCommDestroy_fn = ncclResult_t (*)(ncclComm_t comm);
using ncclAllReduce_fn = ncclResult_t (*)(const void* sendbuff, void* recvbuff,
                                          size_t count, ncclDataType_t datatype,
                                          ncclRedOp_t op, ncclComm_t comm,
                                          cudaStream_t stream);
using ncclBroadcast_fn = ncclResult_t (*)(const void* sendbuff, void* recvbuff,
                                          size_t count, ncclDataType_t datatype,
                                          int root, ncclComm_t comm,
                                          cudaStream_t stream);
using ncclAllGather_fn = ncclResult_t (*)(const void* sendbuff, void* recvbuff,
                                          size_t sendcount,
                                          ncclDataType_t datatype,
                                          ncclComm_t comm, cudaStream_t stream);
using ncclGetErrorString_fn = const char* (*)(ncclResult_t result);
using ncclGetLastError_fn = const char* (*)(ncclComm_t comm);

// ---- CUDA runtime ----

enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorNotReady = 600,
};

enum cudaMemoryType : int {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};

enum cudaMemcpyKind : int {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
};

struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
  // CUDA 13 appends these (zero); older runtimes write only the fields above,
  // so the larger struct is safe with both.
  long reserved[8];
};

using cudaGetDeviceCount_fn = cudaError_t (*)(int* count);
using cudaSetDevice_fn = cudaError_t (*)(int device);
using cudaGetErrorString_fn = const char* (*)(cudaError_t error);
using cudaStreamCreate_fn = cudaError_t (*)(cudaStream_t* stream);
using cudaStreamDestroy_fn = cudaError_t (*)(cudaStream_t stream);
using cudaStreamQuery_fn = cudaError_t (*)(cudaStream_t stream);
using cudaMalloc_fn = cudaError_t (*)(void** ptr, size_t size);
using cudaFree_fn = cudaError_t (*)(void* ptr);
using cudaMemcpyAsync_fn = cudaError_t (*)(void* dst, const void* src,
                                           size_t count, cudaMemcpyKind kind,
                                           cudaStream_t stream);
using cudaPointerGetAttributes_fn =
    cudaError_t (*)(cudaPointerAttributes* attributes, const void* ptr);

}  // namespace nccl_abi
}  // namespace tplaunch

#endif  // TPLAUNCH_WORKER_LIB_NCCL_ABI_H_
