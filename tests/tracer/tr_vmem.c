/*
 * tests/tracer/tr_vmem.c — allocates 1 MiB blocks until malloc fails and
 * prints "got N MiB". Run under `ulimit -v`: the tracer's own address space
 * (its library, rings, writer buffers) comes out of the same RLIMIT_AS, so N
 * under the tracer says how much of it the tracer takes.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    size_t n = 0;
    while (malloc(1u << 20))
        n++;
    printf("got %zu MiB\n", n);
    return 0;
}
