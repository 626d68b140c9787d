#pragma once
// Native failures as coded JS errors, and status codes exported to TypeScript.
//
// Native code (on any thread) reports a failure the caller should see by throwing CodedError.
// Every JS-thread entry point runs its body through WithCodedErrors, the one try/catch of the
// addon: the CodedError leaves as a JS Error whose `code` is a GpuArbiterError code
// (src/errors.ts), which fromNative() in src/native/addon.ts turns into a GpuArbiterError.
#include <napi.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace gpu_arbiter::common {

// Thrown by native code on any thread; caught on the JS thread by WithCodedErrors. `code` is a
// GpuArbiterError code (e.g. "E_BACKEND_UNAVAILABLE"); `reason`, where not empty, says which case
// of it (e.g. "corrupt") and becomes the GpuArbiterError's `details.reason`.
struct CodedError {
  std::string code;
  std::string message;
  std::string reason = std::string();
};

// JS thread: a JS Error with `code` (and `reason`, when not empty) set, to throw or to reject a
// promise with.
Napi::Error CodedJsError(Napi::Env env, const std::string& code, const std::string& message,
                         const std::string& reason = std::string());

// JS thread: throws CodedJsError(...) as a C++ exception; node-addon-api (NAPI_CPP_EXCEPTIONS)
// turns it into a JS exception when the callback returns.
[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message,
                             const std::string& reason = std::string());

// JS thread: runs `body` and returns what it returns; a CodedError it throws becomes a coded JS
// Error. Napi::Errors pass through untouched.
template <typename Body>
auto WithCodedErrors(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const CodedError& e) {
    ThrowCoded(env, e.code, e.message, e.reason);
  }
}

// JS thread: a frozen { NAME: value, ... } object, so TypeScript reads status codes from the
// addon instead of mirroring the numbers by hand.
Napi::Object FrozenCodes(Napi::Env env, std::initializer_list<std::pair<const char*, int>> codes);

}  // namespace gpu_arbiter::common
