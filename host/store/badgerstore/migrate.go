package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// checkSchema writes the format version into a new store, migrates a
// store of version 1 and refuses any other version.
func (s *Store) checkSchema() error {
	migrated := -1 // processing tasks migrated; -1: no migration
	err := s.write(context.Background(), func(txn *tx) (bool, error) {
		migrated = -1
		item, err := txn.Get(schemaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return true, txn.Set(schemaKey, []byte{schemaVersion})
		}
		if err != nil {
			return false, err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return false, err
		}
		switch {
		case len(v) == 1 && v[0] == schemaVersion:
			return false, nil
		case len(v) == 1 && v[0] == 1:
			if migrated, err = dropProcessingStatusKeys(txn); err != nil {
				return false, fmt.Errorf("migrate store format 1 to %d: %w", schemaVersion, err)
			}
			return true, txn.Set(schemaKey, []byte{schemaVersion})
		}
		return false, fmt.Errorf("store format %x, want %d", v, schemaVersion)
	})
	if err == nil && migrated >= 0 {
		s.log.Info("migrated store format", "from", 1, "to", schemaVersion, "processing_tasks", migrated)
	}
	return err
}

// dropProcessingStatusKeys deletes the status index keys of every
// processing task, which format 1 had, and returns how many tasks it
// found. One transaction: a store is opened by one host, whose processing
// tasks are few.
func dropProcessingStatusKeys(txn *tx) (int, error) {
	recs, err := processingRecords(txn.Txn, []byte{prefixProcessing})
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		for _, key := range statusIndexKeys(r) {
			if err := txn.Delete(key); err != nil {
				return 0, err
			}
		}
	}
	return len(recs), nil
}
