#!/usr/bin/env bash
# Starts a single-node Slurm cluster on loopback for Flow's Slurm tests
# (tests/flow/slurm.rs) and benchmarks: munged, slurmctld and slurmd, run as
# root, no cgroups, no accounting database. Installs Debian's slurm-wlm and
# munge when they are missing. Idempotent: a cluster already answering is
# left as it is.
#
# Usage: sudo ci/slurm.sh          start (or check) the cluster
#        sudo ci/slurm.sh stop     stop its daemons
#
# The node claims 64 CPUs whatever the machine has (config_overrides), so
# many small jobs run at once, as on a real cluster; memory is the machine's.
# `SchedulerParameters=sched_min_interval=0,batch_sched_delay=0` starts jobs
# within tens of milliseconds of their submission.
set -euo pipefail

conf=/etc/slurm/slurm.conf
node=$(hostname -s)

if [ "${1:-}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

if scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mix|alloc'; then
    echo "slurm: already up ($(sinfo -h -o '%N %T %c CPUs'))"
    exit 0
fi

# munge: a key, and the daemon (which refuses to run as root without --force).
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    munged --force
fi

memory_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > "$conf" <<CONF
# Written by ci/slurm.sh: a single-node cluster on loopback.
ClusterName=flowci
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MinJobAge=300
MaxJobCount=20000
MaxArraySize=1001
NodeName=${node} NodeAddr=127.0.0.1 CPUs=64 RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=ALL MaxTime=INFINITE State=UP
CONF

pkill -x slurmd || true
pkill -x slurmctld || true
sleep 0.2
slurmctld -c -i
slurmd -N "$node"

for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        echo "slurm: up ($(sinfo -h -o '%N %T %c CPUs'))"
        exit 0
    fi
    sleep 0.1
done
echo "slurm: the node did not come up; the logs:" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2
exit 1
