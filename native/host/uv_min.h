#pragma once
// The few libuv calls the direct wake (direct_wake.cc) needs, declared here because the addon is
// built against node-api-headers alone, which carry no uv.h. Node exports libuv to addons, and
// libuv keeps its ABI stable across 1.x: the handle type number and the leading `data` field of
// every handle below are those of uv.h (UV_HANDLE_TYPE_MAP, UV_HANDLE_FIELDS). A uv_poll_t is
// allocated with uv_handle_size(), never sized here.
#include <cstddef>

extern "C" {
struct uv_loop_s;
struct uv_handle_s;
struct uv_poll_s;
typedef void (*uv_min_poll_cb)(uv_poll_s* handle, int status, int events);
typedef void (*uv_min_close_cb)(uv_handle_s* handle);
int uv_poll_init(uv_loop_s* loop, uv_poll_s* handle, int fd);
int uv_poll_start(uv_poll_s* handle, int events, uv_min_poll_cb cb);
int uv_poll_stop(uv_poll_s* handle);
void uv_close(uv_handle_s* handle, uv_min_close_cb close_cb);
void uv_unref(uv_handle_s* handle);
size_t uv_handle_size(int type);
}

namespace gpu_arbiter::host::uv_min {
constexpr int kPollHandle = 8;  // UV_POLL in uv.h's uv_handle_type
constexpr int kReadable = 1;    // UV_READABLE
// Every libuv handle starts with `void* data` (UV_HANDLE_FIELDS).
inline void*& Data(void* handle) { return *static_cast<void**>(handle); }
}  // namespace gpu_arbiter::host::uv_min
