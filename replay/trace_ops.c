/* replay/trace_ops.c — op names and error strings (trace.h). */
#include "replay/trace.h"

const char *as_op_name(unsigned op)
{
    switch (op) {
#define AS_X_NAME(n, v, s) case v: return s;
        AS_OPS(AS_X_NAME)
#undef AS_X_NAME
    default: return 0;
    }
}

int as_op_allocates(unsigned op)
{
    switch (op) {
    case AS_OP_MALLOC: case AS_OP_CALLOC: case AS_OP_REALLOC: case AS_OP_MEMALIGN:
    case AS_OP_POSIX_MEMALIGN: case AS_OP_ALIGNED_ALLOC: case AS_OP_VALLOC:
    case AS_OP_PVALLOC: case AS_OP_REALLOCARRAY:
        return 1;
    default:
        return 0;
    }
}

const char *as_strerror(as_err_t err)
{
    switch (err) {
    case AS_OK: return "no error";
    case AS_ERR_IO: return "input/output error";
    case AS_ERR_NOT_TRACE: return "not an allocsim trace";
    case AS_ERR_VERSION: return "unsupported trace format version";
    case AS_ERR_HEADER: return "damaged trace header";
    case AS_ERR_CORRUPT: return "damaged chunk";
    case AS_ERR_TRUNCATED: return "truncated trace";
    case AS_ERR_NOMEM: return "out of memory";
    case AS_ERR_EXISTS: return "file exists";
    case AS_ERR_NOSPACE: return "no space left on device";
    case AS_ERR_ARG: return "invalid argument";
    case AS_ERR_NOENT: return "no such file";
    case AS_ERR_PERM: return "permission denied";
    case AS_ERR_ISDIR: return "is a directory, not a trace";
    case AS_ERR_FDLOST: return "the trace's file descriptor was closed or replaced";
    default: return "unknown error";
    }
}
