/* tests/tracer/tr_dlmod.c — a module for the dlopen test: allocates. */
#include <stdlib.h>
void *tr_dlmod_make(size_t n) { return malloc(n); }
