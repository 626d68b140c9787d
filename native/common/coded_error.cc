#include "common/coded_error.h"

namespace gpu_arbiter::common {

// JS thread.
Napi::Error CodedJsError(Napi::Env env, const std::string& code, const std::string& message,
                         const std::string& reason) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (!reason.empty()) err.Set("reason", Napi::String::New(env, reason));
  return err;
}

// JS thread.
void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message, const std::string& reason) {
  throw CodedJsError(env, code, message, reason);
}

// JS thread.
Napi::Object FrozenCodes(Napi::Env env, std::initializer_list<std::pair<const char*, int>> codes) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, value] : codes) out.Set(name, Napi::Number::New(env, value));
  out.Freeze();
  return out;
}

}  // namespace gpu_arbiter::common
