/* Prints what mlos_registry_dir() makes of $MLOS_RUNTIME_DIR: its return
 * code on the first line, the reason (mlos_registry_why) on the second.
 * The registry is internal to libmlos, so the local-users test asks this
 * program instead of calling the library itself. */
#include <stdio.h>

#include "registry.h"

int main(void)
{
    char buf[512];
    int rc = mlos_registry_dir(buf, sizeof(buf));
    printf("%d\n%s\n", rc, mlos_registry_why());
    return 0;
}
