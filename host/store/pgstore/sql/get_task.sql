SELECT /*columns*/ FROM tasks WHERE id = $1
