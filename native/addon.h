// addon.h — the addon's per-environment state, as better-sqlite3's `Addon`.
//
// Node runs one environment per thread that loads the addon (the main thread, each worker). All
// the addon keeps between calls lives in one Addon per environment, set as that environment's
// instance data (napi_set_instance_data) and freed with it; nothing is process-wide, so a worker
// that exits frees only its own handles. (A process-wide constructor, overwritten by each
// environment's Init and freed by the last one to exit, was a use-after-free: issue 9.)
//
// Devices are not listed here: each one is shut down by its own environment cleanup hook, which
// must run before the hook of its ThreadSafeFunction (see DeviceWrap::Wrap), and an Addon-wide
// hook, registered at load time, would run after those.
#pragma once

#include <napi.h>

namespace condis {

struct Addon {
  Napi::FunctionReference device_ctor;  // the NativeDevice class (DeviceWrap::Init)

  // The Addon of the environment `env`, set by the module's Init.
  static Addon& of(Napi::Env env) { return *env.GetInstanceData<Addon>(); }
};

}  // namespace condis
