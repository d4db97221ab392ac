"""Data-parallel training over MPI: the same script on N processes, the result of one process
on the union batch.

Install the extra and launch with ``mpiexec``::

    pip install "lstmx[mpi]"                       # mpi4py and MPICH, both wheels
    mpiexec -n 4 python train.py                   # one machine, 4 ranks
    mpiexec -n 8 -hosts node1,node2 python train.py
    mpiexec -n 2 lstmx translate --data fra.txt --minutes 30
    srun --mpi=pmi2 -n 16 python train.py          # Slurm

A ``Trainer`` (and through it ``Seq2Seq.fit``, the char models and the CLI) turns itself on
when it runs under more than one rank (``Trainer(..., distributed=None)``): rank r trains on
the epoch's batches whose index modulo N is r, the gradients are combined before clipping as
the mean loss over the union of the N batches (each rank's weighted by its token count), and
only rank 0 prints and writes checkpoints. The batch size is per rank: N ranks with batch b
take the steps of one process with batch N·b (scale the learning rate as for that batch).

Without mpi4py, or without a launcher, this is rank 0 of 1 and every collective returns at
once. The functions, for a training loop of one's own::

    from lstmx import distributed as dist
    dist.broadcast_parameters(model.parameters())          # once, before training
    value, n = model.train_step(batch, loss)               # n: tokens of this rank's batch
    dist.allreduce_gradients(model.parameters(), n)        # grads of the union's mean loss
    clip_grad_norm(model.parameters(), 1.0); optimizer.step()
    loss_sum, tokens = dist.allreduce_sum([value * n, n])  # for reports

Failures: a step that raises on one rank makes every rank raise ``RankFailure`` (a
RuntimeError naming the failed ranks) in the same collective, instead of leaving the others
waiting; an uncaught exception aborts the job (``MPI_Abort``); a rank that dies (killed, out
of memory) ends the job through ``mpiexec``. A checkpoint is written atomically, so the last
one stays intact.
"""

from .comm import (RankFailure, allreduce_gradients, allreduce_sum, any_rank, available,
                   barrier, broadcast_object, broadcast_parameters, exit_guard,
                   is_distributed, rank, size)
from .gradients import pack_gradients, unpack_gradients

__all__ = ["RankFailure", "available", "rank", "size", "is_distributed",
           "broadcast_parameters", "allreduce_gradients", "allreduce_sum", "any_rank",
           "broadcast_object", "barrier", "exit_guard", "pack_gradients", "unpack_gradients"]
