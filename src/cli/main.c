#include <stdio.h>
#include "cairn.h"
int main(void) { printf("cairn %s\n", cairn_version()); return 0; }
