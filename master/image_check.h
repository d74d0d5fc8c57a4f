/* Private to the master: the pre-boot image check of mlos_spawn. */
#ifndef MLOS_IMAGE_CHECK_H
#define MLOS_IMAGE_CHECK_H

/* mlos_image_check for a spawn: 0 if path may be booted as arch (or is not
 * an ELF image, which the launcher then reports); MLOS_ESPAWN or
 * MLOS_EVERSION, with the reason on stderr unless $MLOS_QUIET is set, if it
 * is an image of another architecture or ABI. Reads only the file: a few
 * milliseconds, so a wrong image fails at once instead of at the HELLO
 * timeout. */
int mlos__spawn_check_image(const char *path, const char *arch);

#endif
