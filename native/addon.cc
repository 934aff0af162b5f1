// addon.cc — module init only. The contract of these exports is lib/native.ts.
#include <napi.h>

#include "device_wrap.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeDevice", condis::DeviceWrap::Init(env));
  exports.Set("openTap", Napi::Function::New(env, condis::OpenTap, "openTap"));
  exports.Set("openWirePair", Napi::Function::New(env, condis::OpenWirePair, "openWirePair"));
  exports.Set("layout", Napi::Function::New(env, condis::Layout, "layout"));
  exports.Set("setThreadCpus", Napi::Function::New(env, condis::SetThreadCpus, "setThreadCpus"));
  exports.Set("abiVersion", Napi::Number::New(env, condis::kAbiVersion));
  return exports;
}

}  // namespace

NODE_API_MODULE(condis, Init)
