package main

import (
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yubinmail/yubin/internal/backup"
)

// startBackups runs the scheduled backups when YUBIN_BACKUP_DIR is set
// (package internal/backup, the same code as yubin backup), and exports
// their outcome on /metrics.
func (w *wiring) startBackups() {
	if w.cfg.BackupDir == "" {
		return
	}
	dir, err := filepath.Abs(w.cfg.BackupDir)
	if err != nil {
		dir = w.cfg.BackupDir
	}
	sched := &backup.Schedule{
		DataDir:      w.cfg.DataDir,
		Dir:          dir,
		Interval:     w.cfg.BackupInterval,
		Keep:         w.cfg.BackupKeep,
		YubinVersion: versionString(version),
		Logger:       w.log.With("component", "backup"),
	}
	if w.cfg.EncryptionKeyFile != "" {
		// Never inside the data folder (serve refuses that), but a backup
		// must not carry the key that opens it in any case.
		sched.Exclude = []string{w.cfg.EncryptionKeyFile}
	}
	w.log.Info("scheduled backups on", "dir", dir, "interval", w.cfg.BackupInterval, "keep", w.cfg.BackupKeep)
	if w.metrics != nil {
		w.metrics.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "yubin_backup_last_success_timestamp_seconds",
				Help: "Snapshot time of the newest complete scheduled backup (0: none yet).",
			}, func() float64 {
				t := sched.Status().LastSuccess
				if t.IsZero() {
					return 0
				}
				return float64(t.UnixNano()) / 1e9
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "yubin_backup_last_size_bytes",
				Help: "Size of the newest complete scheduled backup (bodies shared with earlier backups included).",
			}, func() float64 { return float64(sched.Status().LastBytes) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "yubin_backup_failures_total",
				Help: "Scheduled backups that failed since the start.",
			}, func() float64 { return float64(sched.Status().Failures) }),
		)
	}
	w.sup.background("backup", sched.Run)
}
