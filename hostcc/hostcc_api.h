#pragma once
// The C interface of the host compiler plugin (libqjit_hostcc.so): Clang and LLVM in
// process, behind a plain C ABI so that the rest of qjit never links them. jit/ opens the
// plugin with dlopen when the cpu device first needs it; a machine without LLVM then gets a
// clear message instead of a binary that does not start (DESIGN.md section 2).
//
// Every string and buffer the plugin returns is released with qjit_hostcc_free.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Bumped whenever a signature below changes; jit/ refuses a plugin of another version.
#define QJIT_HOSTCC_ABI 1

#define QJIT_HOSTCC_EXPORT __attribute__((visibility("default")))

QJIT_HOSTCC_EXPORT int qjit_hostcc_abi(void);

/// What the plugin compiles for by default: JSON {"clang": full version, "triple", "cpu",
/// "features": "+avx512vnni,..." (the host's, as LLVM detects them)}.
QJIT_HOSTCC_EXPORT char* qjit_hostcc_host_identity(void);

/// Compiles one C++ translation unit to an object file in memory.
/// `args`: clang driver arguments (e.g. "-O3", "-std=c++20"), plus qjit's own
/// "-qjit-triple=T", "-qjit-cpu=C" and "-qjit-features=+a,-b" for the target.
/// Headers: `n_headers` (name, content) pairs, found by #include "name".
/// Returns 0 and sets *object / *object_size on success; on failure returns nonzero and
/// *log holds the diagnostics. *log may be set (warnings) on success too.
QJIT_HOSTCC_EXPORT int qjit_hostcc_compile(const char* file_name, const char* source, size_t source_size, const char* const* header_names,
                        const char* const* header_contents, size_t n_headers, const char* const* args, size_t n_args,
                        char** object, size_t* object_size, char** log);

/// Links an object file (as qjit_hostcc_compile made it) into this process. Returns a module
/// handle, or null with *error set.
QJIT_HOSTCC_EXPORT void* qjit_hostcc_load(const char* object, size_t object_size, const char* name, char** error);
/// The address of `symbol` in a loaded module, or null with *error set.
QJIT_HOSTCC_EXPORT void* qjit_hostcc_lookup(void* module, const char* symbol, char** error);
QJIT_HOSTCC_EXPORT void qjit_hostcc_unload(void* module);

QJIT_HOSTCC_EXPORT void qjit_hostcc_free(void* p);

#ifdef __cplusplus
}
#endif
