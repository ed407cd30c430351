#!/usr/bin/env bash
# A real single-node Slurm cluster in a scratch dir (recipe: docs/SLURM.md).
#   source tests/slurm/cluster.sh; slurm_install; slurm_start DIR; …; slurm_stop DIR
# slurm_start exports SLURM_CONF; slurm_stop stops every daemon slurm_start started, by pid file.

slurm_install() {
  if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null; then
    return 0
  fi
  echo "== installing Slurm and munge from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
}

slurm_start() {
  local D=$1 H
  H=$(hostname -s)
  mkdir -p "$D/state" "$D/spool" "$D/log"
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey -c
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    touch "$D/started-munged"
  fi
  munge -n | unmunge >/dev/null
  cat > "$D/slurm.conf" <<CONF
ClusterName=wgfci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
  export SLURM_CONF=$D/slurm.conf
  slurmctld
  slurmd
  local i
  for i in $(seq 1 150); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.2; done
  sinfo -h -o %T | grep -qx idle || { echo "slurm node not idle"; sinfo -N; tail -n 30 "$D"/log/*.log; return 1; }
}

slurm_stop() {
  local D=$1 f p
  local files=("$D/slurmd.pid" "$D/slurmctld.pid")
  [ -e "$D/started-munged" ] && files+=(/run/munge/munged.pid)
  for f in "${files[@]}"; do
    [ -s "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null || continue
    while [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; do sleep 0.05; done
  done
}
