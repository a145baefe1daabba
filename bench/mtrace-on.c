/*
 * bench/mtrace-on.c — glibc mtrace for programs that never call mtrace():
 * preloaded after libc_malloc_debug.so (which holds the working mtrace()
 * since glibc 2.34), its constructor calls mtrace(), so recording starts
 * before main and goes to $MALLOC_TRACE. bench/record.sh builds it.
 */
#include <mcheck.h>

__attribute__((constructor)) static void on(void) { mtrace(); }
