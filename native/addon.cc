// addon.cc — module init only. The contract of these exports is lib/native.ts.
#include <napi.h>

#include "addon.h"
#include "device_wrap.h"

namespace {

// Runs once per environment that loads the addon (main thread, each worker).
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* addon = new condis::Addon();
  // The environment owns it from here: deleted (with its references) when the environment ends.
  env.SetInstanceData<condis::Addon>(addon);
  exports.Set("NativeDevice", condis::DeviceWrap::Init(env, addon));
  exports.Set("openTap", Napi::Function::New(env, condis::OpenTap, "openTap"));
  exports.Set("openWirePair", Napi::Function::New(env, condis::OpenWirePair, "openWirePair"));
  exports.Set("layout", Napi::Function::New(env, condis::Layout, "layout"));
  exports.Set("setThreadCpus", Napi::Function::New(env, condis::SetThreadCpus, "setThreadCpus"));
  exports.Set("abiVersion", Napi::Number::New(env, condis::kAbiVersion));
  return exports;
}

}  // namespace

NODE_API_MODULE(condis, Init)
