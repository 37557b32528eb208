/* The generated C header of the Swift bindings must compile as C (make test-bindings).
   Clang's nullability qualifiers mean nothing to gcc, so they are defined away there. */
#ifndef __clang__
#define _Nonnull
#define _Nullable
#endif
#include "../../swift/FerryCoreFFI.h"

int main(void) {
    return 0;
}
