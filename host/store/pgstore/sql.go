package pgstore

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// statements are the SQL of sql/, one statement per file, named after it.
type statements struct {
	insertTask, getTask, taskState, claimTasks, nextDue, updateTask, deleteTask,
	processing, sweep, counts string

	renewLeases, saveProgress, deleteClaimed, heartbeat, forgetNodes, listNodes, removeNode string

	insertSchedule, lockSchedule, updateSchedule, deleteTriggers, insertTriggers,
	loadSchedule, claimTrigger, triggerState, deleteSchedule string

	migrationLock, createMigrationTable, appliedMigrations, migrationApplied,
	recordMigration, migrationTableExists string

	// columns is the column list of a record (columns.sql), which the
	// others name /*columns*/; the query statements are built with it
	// (query.go).
	columns string
}

// loadStatements reads sql/: each file's text, /*columns*/ replaced.
func loadStatements() (*statements, error) {
	var st statements
	cols, err := sqlFiles.ReadFile("sql/columns.sql")
	if err != nil {
		return nil, err
	}
	st.columns = stripComments(string(cols))
	for name, dst := range map[string]*string{
		"insert_task": &st.insertTask, "get_task": &st.getTask, "task_state": &st.taskState,
		"claim_tasks": &st.claimTasks, "next_due": &st.nextDue, "update_task": &st.updateTask,
		"delete_task": &st.deleteTask, "processing": &st.processing, "sweep": &st.sweep,
		"counts": &st.counts,

		"renew_leases": &st.renewLeases, "save_progress": &st.saveProgress, "delete_claimed": &st.deleteClaimed,
		"heartbeat": &st.heartbeat, "forget_nodes": &st.forgetNodes, "list_nodes": &st.listNodes,
		"remove_node": &st.removeNode,

		"insert_schedule": &st.insertSchedule, "lock_schedule": &st.lockSchedule,
		"update_schedule": &st.updateSchedule, "delete_triggers": &st.deleteTriggers,
		"insert_triggers": &st.insertTriggers, "load_schedule": &st.loadSchedule,
		"claim_trigger": &st.claimTrigger, "trigger_state": &st.triggerState,
		"delete_schedule": &st.deleteSchedule,

		"migration_lock": &st.migrationLock, "create_migration_table": &st.createMigrationTable,
		"applied_migrations": &st.appliedMigrations,
		"migration_applied":  &st.migrationApplied, "record_migration": &st.recordMigration,
		"migration_table_exists": &st.migrationTableExists,
	} {
		b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
		if err != nil {
			return nil, err
		}
		*dst = strings.ReplaceAll(string(b), "/*columns*/", st.columns)
	}
	return &st, nil
}

// stripComments drops the -- comment lines of a SQL fragment, so that it
// can be pasted into the middle of a statement.
func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
		}
	}
	return strings.TrimSpace(b.String())
}

// mustStatements is loadStatements for Open: the files are embedded, so
// a failure is a build mistake that every test catches.
func mustStatements() *statements {
	st, err := loadStatements()
	if err != nil {
		panic(fmt.Sprintf("pgstore: embedded SQL: %v", err))
	}
	return st
}
