/* tests/tracer/tr_ctor.c — frees the block a library constructor allocated
 * before the tracer initialised: the trace must hold both ends. */
#include <stdio.h>
#include <stdlib.h>
extern void *tr_ctor_block;
int main(void)
{
    free(tr_ctor_block);
    printf("ctor ok\n");
    return 0;
}
