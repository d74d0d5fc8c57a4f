/* bench_group_mpi: the baseline of bench_group under MPICH -- allreduce of
 * 8 B and of 1 MiB (f64 sum), barrier, broadcast of 1 MiB -- timed the
 * same way: each rank times every iteration, an iteration counts as its
 * slowest rank's time, p50, p99 and minimum over the iterations. Built and run by
 * bench/bench_group.sh (mpicc, mpirun -np N).
 *
 *   mpirun -np N bench_group_mpi [ITERS] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return v[(int)(p * (n - 1) + 0.5)];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, n, iters = argc > 1 ? atoi(argv[1]) : 2000;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    size_t big = (1u << 20) / 8;
    double *in = malloc(big * 8), *out = malloc(big * 8), *t = malloc((size_t)iters * 8),
           *worst = malloc((size_t)iters * 8);
    for (size_t i = 0; i < big; i++)
        in[i] = (double)(i + rank);
    static const char *names[] = {"allreduce 8B", "allreduce 1MiB", "barrier", "bcast 1MiB"};
    for (int op = 0; op < 4; op++) {
        int it = op == 1 || op == 3 ? iters / 10 : iters;
        MPI_Barrier(MPI_COMM_WORLD);
        for (int i = 0; i < it; i++) {
            double t0 = MPI_Wtime();
            switch (op) {
            case 0: MPI_Allreduce(in, out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); break;
            case 1: MPI_Allreduce(in, out, (int)big, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); break;
            case 2: MPI_Barrier(MPI_COMM_WORLD); break;
            case 3: MPI_Bcast(in, (int)big, MPI_DOUBLE, 0, MPI_COMM_WORLD); break;
            }
            t[i] = (MPI_Wtime() - t0) * 1e6;
        }
        MPI_Reduce(t, worst, it, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            double p50 = pct(worst, it, 0.5), p99 = pct(worst, it, 0.99); /* sorted now */
            printf("%-8s %-5s %2d  %-14s %10.2f %10.2f %10.2f\n", "mpich", "-", n, names[op], p50, p99, worst[0]);
        }
    }
    free(in);
    free(out);
    free(t);
    free(worst);
    MPI_Finalize();
    return 0;
}
