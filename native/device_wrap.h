// device_wrap.h — N-API glue for Device (see device_wrap.cc).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "device.h"

namespace condis {

class DeviceWrap;
// Runs on the JS thread for each coalesced interrupt (see device_wrap.cc).
void CallJs(Napi::Env env, Napi::Function cb, DeviceWrap* self, void* data);

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  using Tsfn = Napi::TypedThreadSafeFunction<DeviceWrap, void, &CallJs>;

  static Napi::Function Init(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Device> dev, Napi::Value region, Napi::Function on_irq,
                           const std::string& name);
  friend void CallJs(Napi::Env env, Napi::Function cb, DeviceWrap* self, void* data);

  explicit DeviceWrap(const Napi::CallbackInfo& info);
  ~DeviceWrap() override;

  Error Start(const std::string& thread_name);
  void Shutdown(bool drain, uint32_t timeout_ms);

 private:
  static void CleanupHook(void* arg);
  static Napi::FunctionReference* ctor_;

  Napi::Value Kick(const Napi::CallbackInfo& info);
  Napi::Value BindPair(const Napi::CallbackInfo& info);
  Napi::Value UnbindPair(const Napi::CallbackInfo& info);
  Napi::Value ResetQueue(const Napi::CallbackInfo& info);
  Napi::Value QuiescePair(const Napi::CallbackInfo& info);
  Napi::Value SetLink(const Napi::CallbackInfo& info);
  Napi::Value SetMtu(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  napi_env env_ = nullptr;
  std::shared_ptr<Device> dev_;
  Napi::ObjectReference region_ref_;
  RegionHeader* hdr_ = nullptr;
  Tsfn tsfn_;
  bool has_tsfn_ = false;
  bool hooked_ = false;
  std::string name_;
};

Napi::Value OpenTap(const Napi::CallbackInfo& info);
Napi::Value OpenWirePair(const Napi::CallbackInfo& info);
Napi::Value Layout(const Napi::CallbackInfo& info);
Napi::Value SetThreadCpus(const Napi::CallbackInfo& info);

}  // namespace condis
