/*
 * margay-malloc.node: glibc's malloc settings for the resident agent, as a Node-API addon
 * (src/os/malloc-control.ts loads it; built by scripts/install-deps.sh into dist/native/).
 *
 * Why: glibc raises its mmap threshold to the size of the largest mmapped block freed (up to
 * 32 MiB) and its trim threshold to twice that, so after one burst of large temporary buffers
 * (netlink batches, nft texts, V8's GC worklists on its helper threads) the freed memory at the
 * top of every arena stays resident for good: 50,000 remote endpoints left ~15 MiB in the
 * arenas for ~4 MiB in use (docs/agent.md, "Latency and memory at scale"). `MALLOC_TRIM_THRESHOLD_`
 * would do the same but must be in the environment before the process starts, which no single
 * command line of the agent guarantees.
 *
 *   setThresholds(trimBytes, mmapBytes) -> boolean   fixed thresholds (no dynamic raise)
 *   trim() -> boolean                                malloc_trim(0): free pages back to the system
 */
#include <node_api.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value boolean(napi_env env, int value) {
  napi_value result;
  napi_get_boolean(env, value != 0, &result);
  return result;
}

static napi_value set_thresholds(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t trim_bytes = 0, mmap_bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &trim_bytes) != napi_ok ||
      napi_get_value_int64(env, argv[1], &mmap_bytes) != napi_ok || trim_bytes <= 0 || mmap_bytes <= 0 ||
      trim_bytes > (1 << 30) || mmap_bytes > (1 << 30)) {
    napi_throw_range_error(env, NULL, "setThresholds(trimBytes, mmapBytes): two byte counts between 1 and 2^30");
    return NULL;
  }
#ifdef __GLIBC__
  return boolean(env, mallopt(M_TRIM_THRESHOLD, (int)trim_bytes) && mallopt(M_MMAP_THRESHOLD, (int)mmap_bytes));
#else
  return boolean(env, 0);
#endif
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  return boolean(env, malloc_trim(0));
#else
  return boolean(env, 0);
#endif
}

static int define(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value) == napi_ok &&
         napi_set_named_property(env, exports, name, value) == napi_ok;
}

NAPI_MODULE_INIT() {
  if (!define(env, exports, "setThresholds", set_thresholds) || !define(env, exports, "trim", trim)) return NULL;
  return exports;
}
