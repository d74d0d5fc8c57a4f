/* main.c -- the mlos-noise program (all the logic is in noise.c). */
#include "noise.h"

int main(int argc, char **argv) { return mlos_noise_main(argc, argv); }
