// Bench-only baseline: flock(2) exposed to JS the way a Node library would have to do it -
// the blocking LOCK_EX on a libuv threadpool thread (napi_async_work), the unlock inline.
// Built at bench time by bench/native-flock/build.js; never part of the shipped addon.
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int op;
  int err;
} LockReq;

static void Execute(napi_env env, void* data) {  // threadpool thread
  LockReq* r = data;
  int rc;
  do {
    rc = flock(r->fd, r->op);
  } while (rc != 0 && errno == EINTR);
  r->err = rc == 0 ? 0 : errno;
}

static void Complete(napi_env env, napi_status status, void* data) {  // JS thread
  LockReq* r = data;
  napi_value v;
  if (r->err == 0) {
    napi_get_boolean(env, 1, &v);
    napi_resolve_deferred(env, r->deferred, v);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, strerror(r->err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &v);
    napi_reject_deferred(env, r->deferred, v);
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

static int ArgInt(napi_env env, napi_callback_info info, size_t i) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t v = -1;
  napi_get_value_int32(env, argv[i], &v);
  return v;
}

// lock(fd) -> Promise: LOCK_EX on the threadpool.
static napi_value Lock(napi_env env, napi_callback_info info) {
  LockReq* r = calloc(1, sizeof *r);
  r->fd = ArgInt(env, info, 0);
  r->op = LOCK_EX;
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "flock", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, Execute, Complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

// unlock(fd): LOCK_UN inline (never blocks).
static napi_value Unlock(napi_env env, napi_callback_info info) {
  flock(ArgInt(env, info, 0), LOCK_UN);
  return NULL;
}

// open(path) -> fd (each process needs its own open file description).
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len;
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len);
  napi_value out;
  napi_create_int32(env, open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"lock", NULL, Lock, NULL, NULL, NULL, napi_default, NULL},
      {"unlock", NULL, Unlock, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, props);
  return exports;
}
