/* tests/tracer/tr_ctorlib.c — a DT_NEEDED library whose constructor
 * allocates; it runs before the preloaded tracer's own constructor. */
#include <stdlib.h>
void *tr_ctor_block;
__attribute__((constructor)) static void early(void) { tr_ctor_block = malloc(777); }
