// Compiled at test time against the real nccl.h and cuda_runtime_api.h by
// nccl_abi_check_test.sh: every declaration in worker_lib/nccl_abi.h must
// match.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstddef>
#include <type_traits>

#include "worker_lib/nccl_abi.h"

namespace abi = tplaunch::nccl_abi;

// Same calling-convention shape: size, pointer-ness, const-ness of the pointee,
// integral/enum vs floating vs class.
template <typename A, typename B>
constexpr bool SameAbi() {
  if constexpr (std::is_pointer_v<A> != std::is_pointer_v<B>) {
    return false;
  } else if constexpr (std::is_pointer_v<A>) {
    using PA = std::remove_pointer_t<A>;
    using PB = std::remove_pointer_t<B>;
    return std::is_const_v<PA> == std::is_const_v<PB> &&
           std::is_pointer_v<PA> == std::is_pointer_v<PB>;
  } else if constexpr (std::is_void_v<A> || std::is_void_v<B>) {
    return std::is_void_v<A> && std::is_void_v<B>;
  } else {
    return sizeof(A) == sizeof(B) && alignof(A) == alignof(B) &&
           std::is_floating_point_v<A> == std::is_floating_point_v<B> &&
           std::is_class_v<A> == std::is_class_v<B>;
  }
}

template <typename F1, typename F2>
struct SameFn : std::false_type {};
template <typename R1, typename... A1, typename R2, typename... A2>
struct SameFn<R1 (*)(A1...), R2 (*)(A2...)> {
  static constexpr bool value = sizeof...(A1) == sizeof...(A2) &&
                                SameAbi<R1, R2>() && (SameAbi<A1, A2>() && ...);
};

#define CHECK_FN(ours, theirs)                                      \
  static_assert(SameFn<abi::ours##_fn, decltype(&::theirs)>::value, \
                #theirs " signature differs from worker_lib/nccl_abi.h")
CHECK_FN(ncclGetVersion, ncclGetVersion);
CHECK_FN(ncclGetUniqueId, ncclGetUniqueId);
CHECK_FN(ncclCommInitRankConfig, ncclCommInitRankConfig);
CHECK_FN(ncclCommInitRankScalable, ncclCommInitRankScalable);
CHECK_FN(ncclCommGetAsyncError, ncclCommGetAsyncError);
CHECK_FN(ncclCommAbort, ncclCommAbort);
CHECK_FN(ncclCommDestroy, ncclCommDestroy);
CHECK_FN(ncclAllReduce, ncclAllReduce);
CHECK_FN(ncclBroadcast, ncclBroadcast);
CHECK_FN(ncclAllGather, ncclAllGather);
CHECK_FN(ncclGetErrorString, ncclGetErrorString);
CHECK_FN(ncclGetLastError, ncclGetLastError);
CHECK_FN(cudaGetDeviceCount, cudaGetDeviceCount);
CHECK_FN(cudaSetDevice, cudaSetDevice);
CHECK_FN(cudaGetErrorString, cudaGetErrorString);
CHECK_FN(cudaStreamCreate, cudaStreamCreate);
CHECK_FN(cudaStreamDestroy, cudaStreamDestroy);
CHECK_FN(cudaStreamQuery, cudaStreamQuery);
// cuda_runtime_api.h also declares a C++ template overload: pick the C
// function.
static_assert(SameFn<abi::cudaMalloc_fn,
                     decltype(static_cast<cudaError_t (*)(void**, size_t)>(
                         &::cudaMalloc))>::value,
              "cudaMalloc signature differs from worker_lib/nccl_abi.h");
CHECK_FN(cudaFree, cudaFree);
CHECK_FN(cudaMemcpyAsync, cudaMemcpyAsync);
CHECK_FN(cudaPointerGetAttributes, cudaPointerGetAttributes);

// Structs: size and every field's offset and size.
static_assert(abi::kUniqueIdBytes == NCCL_UNIQUE_ID_BYTES);
static_assert(sizeof(abi::ncclUniqueId) == sizeof(ncclUniqueId));
static_assert(sizeof(abi::ncclConfig_t) == sizeof(ncclConfig_t));
#define CHECK_FIELD(ours, theirs, f)                        \
  static_assert(offsetof(ours, f) == offsetof(theirs, f) && \
                    sizeof(ours::f) == sizeof(theirs::f),   \
                #theirs "::" #f " differs from worker_lib/nccl_abi.h")
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, size);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, magic);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, version);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, blocking);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, cgaClusterSize);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, minCTAs);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, maxCTAs);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, netName);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, splitShare);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, trafficClass);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, commName);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, collnetEnable);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, CTAPolicy);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, shrinkShare);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, nvlsCTAs);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, nChannelsPerNetPeer);
CHECK_FIELD(abi::ncclConfig_t, ncclConfig_t, nvlinkCentricSched);
static_assert(sizeof(abi::cudaPointerAttributes) ==
              sizeof(cudaPointerAttributes));
CHECK_FIELD(abi::cudaPointerAttributes, cudaPointerAttributes, type);
CHECK_FIELD(abi::cudaPointerAttributes, cudaPointerAttributes, device);
CHECK_FIELD(abi::cudaPointerAttributes, cudaPointerAttributes, devicePointer);
CHECK_FIELD(abi::cudaPointerAttributes, cudaPointerAttributes, hostPointer);
CHECK_FIELD(abi::cudaPointerAttributes, cudaPointerAttributes, reserved);

// NCCL_CONFIG_INITIALIZER and our DefaultConfig agree.
constexpr ncclConfig_t kInitializer = NCCL_CONFIG_INITIALIZER;
static_assert(kInitializer.magic == abi::kConfigMagic);
static_assert(kInitializer.blocking == abi::kConfigUndefInt);
// Our layout's version must be the header's major.minor (patch may differ).
static_assert(kInitializer.version / 100 == abi::kConfigVersion / 100);

// Enum values and sizes.
static_assert(sizeof(abi::ncclResult_t) == sizeof(ncclResult_t));
static_assert(sizeof(abi::ncclDataType_t) == sizeof(ncclDataType_t));
static_assert(sizeof(abi::ncclRedOp_t) == sizeof(ncclRedOp_t));
static_assert(sizeof(abi::cudaError_t) == sizeof(cudaError_t));
#define CHECK_VALUE(name)                                                  \
  static_assert(static_cast<long>(abi::name) == static_cast<long>(::name), \
                #name " differs from worker_lib/nccl_abi.h")
CHECK_VALUE(ncclSuccess);
CHECK_VALUE(ncclUnhandledCudaError);
CHECK_VALUE(ncclSystemError);
CHECK_VALUE(ncclInternalError);
CHECK_VALUE(ncclInvalidArgument);
CHECK_VALUE(ncclInvalidUsage);
CHECK_VALUE(ncclRemoteError);
CHECK_VALUE(ncclInProgress);
CHECK_VALUE(ncclSum);
CHECK_VALUE(ncclProd);
CHECK_VALUE(ncclMax);
CHECK_VALUE(ncclMin);
CHECK_VALUE(ncclInt32);
CHECK_VALUE(ncclInt64);
CHECK_VALUE(ncclFloat32);
CHECK_VALUE(ncclFloat64);
CHECK_VALUE(ncclBfloat16);
CHECK_VALUE(cudaSuccess);
CHECK_VALUE(cudaErrorInsufficientDriver);
CHECK_VALUE(cudaErrorNoDevice);
CHECK_VALUE(cudaErrorNotReady);
CHECK_VALUE(cudaMemoryTypeUnregistered);
CHECK_VALUE(cudaMemoryTypeHost);
CHECK_VALUE(cudaMemoryTypeDevice);
CHECK_VALUE(cudaMemoryTypeManaged);
CHECK_VALUE(cudaMemcpyHostToDevice);
CHECK_VALUE(cudaMemcpyDeviceToHost);

int main() { return 0; }
