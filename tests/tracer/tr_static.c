/* tests/tracer/tr_static.c — built -static: record must refuse it. */
int main(void) { return 0; }
