// device_wrap.h — N-API glue for Device (see device_wrap.cc).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "device.h"

namespace condis {

struct Addon;
struct IrqLine;

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  // Defines the NativeDevice class and keeps its constructor in `addon` (this environment's).
  static Napi::Function Init(Napi::Env env, Addon* addon);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Device> dev, Napi::Value region, Napi::Function on_irq,
                           const std::string& name);

  explicit DeviceWrap(const Napi::CallbackInfo& info);
  ~DeviceWrap() override;

  Error Start(const std::string& thread_name);
  // Stops the device thread, then lets go of everything JS: the interrupt line, the TSFN, the
  // region. Idempotent; JS thread only (a call, a finalizer, the env cleanup hook).
  void Shutdown(bool drain, uint32_t timeout_ms);

 private:
  static void CleanupHook(void* arg);

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
  Napi::Value TestBreakEpoll(const Napi::CallbackInfo& info);
  Napi::Value TestHoldTx(const Napi::CallbackInfo& info);

  napi_env env_ = nullptr;
  std::shared_ptr<Device> dev_;
  // Raw N-API handles, released with the C calls: Shutdown runs in finalizers and env cleanup
  // hooks, where a C++ exception (the Napi:: wrappers' way to report a failed call) would end
  // the process.
  napi_ref region_ref_ = nullptr;
  // The interrupt path: a TSFN whose context (IrqLine) it owns and frees in its finalizer, so a
  // call still queued after this wrap is gone never reaches freed memory.
  napi_threadsafe_function tsfn_ = nullptr;
  IrqLine* irq_ = nullptr;
  bool hooked_ = false;
  std::string name_;
};

Napi::Value OpenTap(const Napi::CallbackInfo& info);
Napi::Value OpenWirePair(const Napi::CallbackInfo& info);
Napi::Value Layout(const Napi::CallbackInfo& info);
Napi::Value SetThreadCpus(const Napi::CallbackInfo& info);

}  // namespace condis
